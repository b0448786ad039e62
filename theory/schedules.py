r"""Learning-rate schedules: pure callables of the time $t$ = (samples seen)/d.

hild evaluates a schedule at $t_k = k B / d$ before step $k$ (B the batch size), so one
schedule means the same thing for the exact recursion, the high-d ODE and the finite-d
simulation, at any d and batch size. A step-indexed rule $\eta_k = f(k)$ is
`lambda t: f(t * d / B)`.

Schedules are `equinox.Module`s whose hyperparameters are array leaves, so `jit` does not
recompile when they change and `vmap`/`grad` can run over them (the closures returned by
`optax.schedules` keep their hyperparameters as Python floats, which rules out both).
The formulas follow `optax.schedules` with steps replaced by $t$.
"""

from __future__ import annotations

import abc
import math
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from .checks import check_range, check_vector, is_concrete
from .fields import Configurable, ConfigError, Number, Numbers, Table
from .registry import Registry

SCHEDULES: Registry[type["AbstractSchedule"]] = Registry("schedule kind")

_asarray = jnp.asarray


def _passed(t, boundaries) -> Array:
    """How many of `boundaries` are <= t (elementwise in t)."""
    t = jnp.asarray(t)
    return jnp.sum(t[..., None] >= boundaries.reshape((1,) * t.ndim + (-1,)), axis=-1)


class AbstractSchedule(eqx.Module, Configurable):
    """A learning rate as a function of $t$ = samples/d; its config table is its fields."""

    kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if isinstance(kind, str):
            SCHEDULES.register(kind, cls)

    @abc.abstractmethod
    def __call__(self, t: ArrayLike) -> Array:
        """The learning rate at time `t`."""

    def describe(self) -> str:
        """A short label, e.g. `cosine(init=0.5, t_max=10, final=0)`."""
        fields = {k: v for k, v in self.to_config().items() if k != "kind"}
        def fmt(v):
            if not isinstance(v, list):
                return f"{v:.4g}"
            if len(v) > 4:
                return f"[{v[0]:.3g}, …, {v[-1]:.3g}] ({len(v)} values)"
            return "[" + ", ".join(f"{x:.3g}" for x in v) + "]"
        return f"{self.kind}(" + ", ".join(f"{k}={fmt(v)}" for k, v in fields.items()) + ")"


class Constant(AbstractSchedule):
    r"""$\eta(t) = \eta_0$."""

    kind = "constant"
    config_fields = {"value": Number()}
    value: Array = eqx.field(converter=_asarray)

    def __check_init__(self):
        check_range("constant.value", self.value, low=0.0, low_open=True)

    def __call__(self, t):
        return self.value * jnp.ones_like(jnp.asarray(t, dtype=jnp.result_type(float)))



class StepDecay(AbstractSchedule):
    r"""$\eta(t) = \eta_0 \, f^{\#\{j : t \ge t_j\}}$ for boundaries $t_j$ and factor $f$."""

    kind = "step_decay"
    config_fields = {"init": Number(), "boundaries": Numbers(), "factor": Number()}
    init: Array = eqx.field(converter=_asarray)
    boundaries: Array = eqx.field(converter=_asarray)
    factor: Array = eqx.field(default=0.1, converter=_asarray)

    def __check_init__(self):
        check_range("step_decay.init", self.init, low=0.0, low_open=True)
        check_vector("step_decay.boundaries", self.boundaries)
        check_range("step_decay.boundaries", self.boundaries, low=0.0)
        check_range("step_decay.factor", self.factor, low=0.0, high=1.0, low_open=True)

    def __call__(self, t):
        return self.init * self.factor ** _passed(t, self.boundaries)



class Cosine(AbstractSchedule):
    r"""$\eta(t) = \eta_f + (\eta_0 - \eta_f)\,\tfrac12\left(1 + \cos(\pi \min(t, T)/T)\right)$.

    Loshchilov & Hutter, "SGDR", arXiv 1608.03983, eq. (5), without restarts.
    """

    kind = "cosine"
    config_fields = {"init": Number(), "t_max": Number(), "final": Number()}
    init: Array = eqx.field(converter=_asarray)
    t_max: Array = eqx.field(converter=_asarray)
    final: Array = eqx.field(default=0.0, converter=_asarray)

    def __check_init__(self):
        check_range("cosine.init", self.init, low=0.0, low_open=True)
        check_range("cosine.t_max", self.t_max, low=0.0, low_open=True)
        check_range("cosine.final", self.final, low=0.0)

    def __call__(self, t):
        frac = jnp.minimum(jnp.asarray(t), self.t_max) / self.t_max
        return self.final + (self.init - self.final) * 0.5 * (1.0 + jnp.cos(math.pi * frac))



class Polynomial(AbstractSchedule):
    r"""$\eta(t) = \eta_0 / (1 + t/t_0)^p$ (p = 1: the Robbins–Monro $1/t$ decay)."""

    kind = "polynomial"
    config_fields = {"init": Number(), "t0": Number(), "power": Number()}
    init: Array = eqx.field(converter=_asarray)
    t0: Array = eqx.field(converter=_asarray)
    power: Array = eqx.field(default=1.0, converter=_asarray)

    def __check_init__(self):
        check_range("polynomial.init", self.init, low=0.0, low_open=True)
        check_range("polynomial.t0", self.t0, low=0.0, low_open=True)
        check_range("polynomial.power", self.power, low=0.0)

    def __call__(self, t):
        return self.init / (1.0 + jnp.asarray(t) / self.t0) ** self.power



class PiecewiseConstant(AbstractSchedule):
    r"""$\eta(t) = v_j$ for $t_{j} \le t < t_{j+1}$, with $t_0 = 0$ and $v_{n-1}$ after the last
    boundary. `values` has one more entry than `boundaries`; its entries are free
    parameters for gradient-based tuning."""

    kind = "piecewise_constant"
    config_fields = {"values": Numbers(), "boundaries": Numbers()}
    values: Array = eqx.field(converter=_asarray)
    boundaries: Array = eqx.field(converter=_asarray)

    def __check_init__(self):
        check_vector("piecewise_constant.values", self.values)
        if self.values.shape[0] < 1:
            raise ValueError("piecewise_constant.values must be a non-empty list of rates")
        check_range("piecewise_constant.values", self.values, low=0.0, low_open=True)
        check_vector("piecewise_constant.boundaries", self.boundaries)
        check_range("piecewise_constant.boundaries", self.boundaries, low=0.0)
        if is_concrete(self.values) and is_concrete(self.boundaries):
            if self.values.shape[0] != self.boundaries.shape[0] + 1:
                raise ValueError("piecewise_constant.values must have one more entry than "
                                 f"boundaries (got {self.values.shape[0]} values, "
                                 f"{self.boundaries.shape[0]} boundaries)")
            if jnp.any(jnp.diff(self.boundaries) <= 0):
                raise ValueError("piecewise_constant.boundaries must be strictly increasing")

    def __call__(self, t):
        return self.values[_passed(t, self.boundaries)]

    @classmethod
    def from_config(cls, table):
        """`values` with `boundaries`, or with `t_max` for equal pieces on [0, t_max]."""
        if table.has("t_max"):
            return piecewise_constant(table.numbers("values"), t_max=table.number("t_max"))
        return super().from_config(table)


def constant(value: float) -> Constant:
    """A constant learning rate."""
    return Constant(value)


def step_decay(init: float, boundaries, factor: float = 0.1) -> StepDecay:
    """Multiply the rate by `factor` at each of the times `boundaries` (in t = samples/d)."""
    return StepDecay(init, jnp.atleast_1d(jnp.asarray(boundaries, dtype=float)), factor)


def cosine(init: float, t_max: float, final: float = 0.0) -> Cosine:
    """Cosine decay from `init` to `final` over t in [0, t_max], then constant."""
    return Cosine(init, t_max, final)


def polynomial(init: float, t0: float, power: float = 1.0) -> Polynomial:
    """Polynomial decay `init / (1 + t/t0)**power`."""
    return Polynomial(init, t0, power)


def piecewise_constant(values, boundaries=None, *, t_max: float | None = None) -> PiecewiseConstant:
    """Piecewise-constant rate; give `boundaries`, or `t_max` for equal pieces on [0, t_max]."""
    values = jnp.asarray(values, dtype=float)
    if values.ndim != 1 or values.shape[0] < 1:
        raise ValueError(f"piecewise_constant.values must be a non-empty list of rates "
                         f"(got shape {values.shape})")
    if boundaries is None:
        if t_max is None:
            raise ValueError("piecewise_constant needs boundaries or t_max")
        check_range("piecewise_constant.t_max", t_max, low=0.0, low_open=True)
        n = values.shape[0]
        boundaries = jnp.arange(1, n) * (t_max / n)
    return PiecewiseConstant(values, jnp.asarray(boundaries, dtype=float))


def from_config(table: Table) -> AbstractSchedule:
    """Build a schedule from a config table with a `kind` field."""
    kind = table.string("kind", SCHEDULES.names())
    sched = SCHEDULES[kind].from_config(table)
    table.finish()
    return sched


__all__ = ["AbstractSchedule", "Constant", "StepDecay", "Cosine", "Polynomial",
           "PiecewiseConstant", "constant", "step_decay", "cosine", "polynomial",
           "piecewise_constant", "from_config", "SCHEDULES", "ConfigError"]
