r"""Optimizers: the algorithms whose learning curves hild predicts, and their update rules.

An optimizer states the algorithm in macroscopic terms (its hyperparameters are array leaves,
so `jit`/`vmap`/`grad` reach them) and carries its finite-d update rule, shared by every
family's simulator: `init(params, clock)` and `update(params, state, batch, clock)`, where
`batch` is a fresh batch of the family's samples that the optimizer asks for what it needs
(`batch.gradient(params)` for SGD, `batch.linearize(params)` for prox-linear steps), and
`clock` maps the step count to t = samples/d for schedules. SGD's update is built from optax
transforms (`scale_by_schedule`, `trace`, `multi_transform` for per-group rates).

Each family documents how its learning rate is scaled with d (docs/theory.md, Conventions:
pre-activations carry 1/√d, so an O(1) learning rate moves the order parameters by O(1) per
unit of t = samples/d).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from . import schedules
from ._family import StepClock
from .checks import check_integer, check_range, checked, is_concrete
from .fields import INT32_MAX, Codec, Configurable, Integer, Number, String, Table
from .registry import Registry, is_spec

OPTIMIZERS: Registry[type["AbstractOptimizer"]] = Registry("optimizer.kind", group="hild.optimizers")
"""Optimizers by kind: every defined `AbstractOptimizer` subclass with a `kind`, and the
installed ones (entry-point group `hild.optimizers`, hild's own included)."""


def _lr_converter(lr):
    if callable(lr):
        return lr
    dtype = lr.dtype if hasattr(lr, "dtype") else np.asarray(lr).dtype
    if isinstance(lr, (str, bytes, bool)) or not np.issubdtype(dtype, np.number):
        raise TypeError(f"lr must be a number, an array of numbers, or a schedule (a callable "
                        f"of t) (got {lr!r})")
    return jnp.asarray(lr)


def _float_converter(x):
    return jnp.asarray(x, dtype=jnp.result_type(float))


def _batch_converter(batch):
    # A Python int stays static (it sets array shapes in simulations); an array stays a
    # leaf so the theory can vmap over batch sizes.
    if isinstance(batch, (int, float, np.integer)) and not isinstance(batch, bool) and float(batch).is_integer():
        return int(batch)
    return jnp.asarray(batch)


def _groups_converter(groups):
    if groups is None:
        return {}
    if not isinstance(groups, dict):
        raise ValueError(f"SGD.group_lr must be a table of group name -> lr (got {groups!r})")
    return {str(k): _lr_converter(v) for k, v in groups.items()}


class AbstractOptimizer(eqx.Module, Configurable):
    """An optimizer: its hyperparameters and its finite-d update rule (optax's init/update
    form). Simulating it needs nothing else; predicting it needs a theory registered for the
    (problem, optimizer) pair (`theory.register_theory`)."""

    kind: ClassVar[str]
    rotation_invariant: ClassVar[bool] = False
    """True when the rule commutes with rotations of the parameters (SGD, momentum, norm-based
    rates): a simulation may then run in a rotated basis of the problem (e.g. a covariance's
    eigenbasis). Coordinate-wise rules (sign-SGD, Adam) are not; the default is the safe one."""
    iteration_fields: ClassVar[tuple[str, ...]] = ()
    """Fields that must be concrete to turn a horizon in t into a number of iterations
    (a vmapped search groups candidates by their values)."""
    labels: ClassVar[dict[str, str]] = {}
    """Axis labels of the hyperparameters (for figures)."""
    diagram_axes: ClassVar[tuple[str, str] | None] = None
    """The (rate, batch) pair of hyperparameters a phase diagram shows first."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if isinstance(kind, str):
            OPTIMIZERS.register(kind, cls)

    def describe(self) -> str:
        """A short label with the hyperparameters (for legends)."""
        return type(self).__name__

    def samples_per_step(self, d: int) -> int:
        """Fresh samples one step draws at dimension d (a step advances t by this over d):
        the optimizer's `batch`."""
        batch = getattr(self, "batch", 1)
        if not is_concrete(batch):
            raise ValueError(f"{type(self).__name__}.batch must be concrete here (it sets array "
                             "shapes); vmap over batch sizes only in theory.predict")
        return int(batch)

    def step_clock(self, d: int | None) -> StepClock | None:
        """How far one step moves t = samples/d at dimension d: its `batch` over d (maybe
        traced, for a vmap over batch sizes); None for d = None, the high-d limit, where a
        step of finitely many samples is infinitesimal."""
        if d is None:
            return None
        return StepClock(getattr(self, "batch", 1), d, f"{type(self).__name__}.batch", lower=1.0)

    def piecewise_schedule(self, pieces: int, t_max: float) -> tuple["AbstractOptimizer", str]:
        """This optimizer with its rate replaced by `pieces` equal constant pieces on
        [0, t_max] (starting flat), and the path of their values (for gradient tuning)."""
        raise ValueError(f"{type(self).__name__} has no learning rate to schedule")

    # -- the update rule of simulations
    def _transform(self, clock, params):
        """The optax transformation of the batch's mean gradient, for optimizers that are
        one (SGD, Nesterov); others override `init` and `update` instead."""
        raise NotImplementedError

    def init(self, params, clock) -> Any:
        """The optimizer state for `params` (a dict: parameter group -> array)."""
        return self._transform(clock, params).init(params)

    def update(self, params, state, batch, clock) -> tuple[Any, Any]:
        """One step on a fresh `batch`: (new params, new state)."""
        import optax

        updates, state = self._transform(clock, params).update(batch.gradient(params), state, params)
        return optax.apply_updates(params, updates), state

    def observables(self, state) -> dict:
        """Named observables of the optimizer's own state (e.g. an adaptive rate), recorded
        next to the family's; {} by default."""
        return {}

    def evaluated(self, params, state) -> Any:
        """The parameters whose risk is recorded (default `params`; an averaged method's
        running mean)."""
        return params


class Rate(Codec):
    """A learning rate: a number `lr = 0.5`, or a schedule table `[optimizer.schedule]`."""

    def keys(self, key):
        return (key, "schedule")

    def read(self, table, key, given):
        sched = table.table("schedule")
        if sched is None:
            return table.number(key)
        if table.has(key):
            table.fail(key, "give lr or a schedule table, not both")
        return schedules.from_config(sched)

    def write(self, key, value):
        return {"schedule": _lr_to_config(value)} if callable(value) else {key: float(value)}


class GroupRates(Codec):
    """Rates of named parameter groups: `{ second_layer = 0.1 }` (numbers or schedule tables)."""

    def read(self, table, key, given):
        groups = table.table(key)
        if groups is None:
            table.fail(key, "expected a table of group name -> lr")
        rates = {name: (schedules.from_config(groups.table(name)) if isinstance(groups.raw(name), dict)
                        else groups.number(name)) for name in groups.keys()}
        groups.finish()
        return rates

    def write(self, key, value):
        return {key: {name: _lr_to_config(lr) for name, lr in value.items()}} if value else {}


BATCH = Integer(low=1, high=INT32_MAX)


class SGD(AbstractOptimizer):
    r"""Online mini-batch SGD with heavy-ball momentum (docs/theory.md, Conventions).

    $w_{k+1} = w_k - \eta(t_k)\,\hat g_k + \beta (w_k - w_{k-1})$, with $\hat g_k$ the mean
    gradient over `batch` fresh samples in the family's scaled parametrisation and
    $t_k = k B / d$.

    **Arguments:**

    - `lr`: learning rate $\eta > 0$ (O(1) in the family's scaling), or a schedule: a
      callable of t = samples/d (see `theory.schedules`).
    - `batch`: fresh samples per step, $B \ge 1$.
    - `momentum`: heavy-ball coefficient $\beta \in [0, 1)$.
    - `group_lr`: learning rates (numbers or schedules) of named parameter groups, which
      then do not use `lr` (e.g. `{"second_layer": 0.1}` for a committee machine; a
      family's `parameter_groups()` lists its groups).

    The update is optax's: per group, `scale_by_schedule(-lr(t))` then `trace(β)` (the
    velocity $v_k = -\eta(t_k)\hat g_k + \beta v_{k-1}$, $w_{k+1} = w_k + v_k$).
    """

    kind = "sgd"
    rotation_invariant = True
    labels = {"lr": "learning rate η", "batch": "batch size B", "momentum": "momentum β"}
    diagram_axes = ("lr", "batch")
    config_fields = {"lr": Rate(), "batch": BATCH, "momentum": Number(), "group_lr": GroupRates()}
    lr: Array | Callable = eqx.field(converter=_lr_converter)
    batch: int | Array = eqx.field(default=1, converter=_batch_converter)
    momentum: Array = eqx.field(default=0.0, converter=jnp.asarray)
    group_lr: dict = eqx.field(default=None, converter=_groups_converter)

    def __check_init__(self):
        if not callable(self.lr):
            check_range("SGD.lr", self.lr, low=0.0, low_open=True)
        check_integer("SGD.batch", self.batch, low=1)
        check_range("SGD.momentum", self.momentum, low=0.0, high=1.0, high_open=True)
        for name, lr in self.group_lr.items():
            if not callable(lr):
                check_range(f"SGD.group_lr.{name}", lr, low=0.0, low_open=True)

    def lr_at(self, t, group: str | None = None) -> Array:
        """The learning rate of `group` (default: `lr`) at time `t` (checked when traced)."""
        lr, name = self.lr, "SGD.lr"
        if group is not None and group in self.group_lr:
            lr, name = self.group_lr[group], f"SGD.group_lr.{group}"
        if callable(lr):  # a schedule may decay to 0
            return checked(lr(t), f"{name} (schedule value)", low=0.0)
        eta = lr * jnp.ones_like(jnp.asarray(t, dtype=float))
        return checked(eta, name, low=0.0, low_open=True)

    def checked_momentum(self) -> Array:
        """The momentum β, checked to lie in [0, 1)."""
        return checked(self.momentum, "SGD.momentum", low=0.0, high=1.0, high_open=True)

    def piecewise_schedule(self, pieces: int, t_max: float) -> tuple["SGD", str]:
        if callable(self.lr):
            raise ValueError("start the schedule from a constant SGD.lr, not a schedule")
        flat = schedules.piecewise_constant(jnp.full(pieces, float(self.lr)), t_max=t_max)
        return eqx.tree_at(lambda o: o.lr, self, flat), "lr.values"

    def _transform(self, clock, params):
        import optax

        dtype = jnp.result_type(*jax.tree.leaves(params))
        beta = self.checked_momentum().astype(dtype)

        def group(name):
            rate = lambda count: -self.lr_at(clock.time(count), name)
            return optax.chain(optax.scale_by_schedule(rate), optax.trace(decay=beta))

        return optax.multi_transform({name: group(name) for name in params},
                                     {name: name for name in params})

    def describe(self) -> str:
        """A short label, e.g. `SGD η=0.5, B=8, momentum=0.9` (not β: configs use `beta` for
        a teacher exponent)."""
        groups = "".join(f", η[{name}]={_describe_lr(lr)}" for name, lr in self.group_lr.items())
        return (f"SGD η={_describe_lr(self.lr)}, B={int(self.batch)}, "
                f"momentum={float(self.momentum):g}{groups}")


def _describe_lr(lr) -> str:
    if isinstance(lr, schedules.AbstractSchedule):
        return lr.describe()
    if callable(lr):
        return getattr(lr, "__name__", "schedule")
    return f"{float(lr):.4g}"


def _lr_to_config(lr):
    if isinstance(lr, schedules.AbstractSchedule):
        return lr.to_config()
    if callable(lr):
        return {"kind": "callable", "repr": repr(lr)}
    return float(lr)


class LeastSquaresBatch(NamedTuple):
    r"""A fresh batch of m residuals linearised at the current parameters $x$:
    $r_i = y_i - f_i(x)$ and $G$ (rows $g_i = \nabla f_i(x)$) as maps: `jvp(v)` = $Gv$
    (v shaped as the parameters), `vjp(λ)` = $G^\top\lambda$, `row_norms2` = $\|g_i\|^2$."""

    residual: Array
    jvp: Callable
    vjp: Callable
    row_norms2: Array


PROX_SOLVERS = ("cg", "dense")


class ProxLinear(AbstractOptimizer):
    r"""Mini-batched prox-linear method (docs/theory.md, Rank-one matrix sensing).

    Each iteration draws a fresh batch of $m = \delta d$ measurements and solves the
    prox-linear subproblem exactly: with the residuals linearised at $x_t$,
    $x_{t+1} = \arg\min_x \frac{1}{2m}\sum_{i \le m}(r_i - g_i^\top(x - x_t))^2
    + \frac{1}{2\eta}\|x - x_t\|^2 = x_t + G^\top(GG^\top + (m/\eta) I_m)^{-1} r$
    (Lou, Verchand, Pananjady, arXiv 2402.01599). A large step approaches Gauss–Newton.

    **Arguments:**

    - `step`: the proximal step $\eta > 0$ (dimensionless: the subproblem's loss is a
      mean over the batch).
    - `batch_fraction`: measurements per iteration over the dimension, $\delta = m/d > 0$;
      an iteration advances t = samples/d by δ.
    - `solver`: how simulations solve the m × m system: "cg" (matrix-free conjugate
      gradients, lineax, Jacobi preconditioner; default) or "dense".
    """

    kind = "prox_linear"
    rotation_invariant = True
    config_fields = {"step": Number(), "batch_fraction": Number(), "solver": String(PROX_SOLVERS)}
    iteration_fields = ("batch_fraction",)
    labels = {"step": "proximal step η", "batch_fraction": "batch fraction δ = m/d"}
    diagram_axes = ("step", "batch_fraction")
    step: Array = eqx.field(converter=_float_converter)
    batch_fraction: Array = eqx.field(default=1.0, converter=_float_converter)
    solver: str = eqx.field(default="cg", static=True)

    def __check_init__(self):
        check_range("ProxLinear.step", self.step, low=0.0, low_open=True)
        check_range("ProxLinear.batch_fraction", self.batch_fraction, low=0.0, low_open=True)
        if self.solver not in PROX_SOLVERS:
            raise ValueError(f"ProxLinear.solver must be one of {', '.join(PROX_SOLVERS)} "
                             f"(got {self.solver!r})")

    def checked_step(self) -> Array:
        """The prox-linear step, checked > 0."""
        return checked(self.step, "ProxLinear.step", low=0.0, low_open=True)

    def checked_batch_fraction(self) -> Array:
        """The batch fraction δ = m/d, checked > 0."""
        return checked(self.batch_fraction, "ProxLinear.batch_fraction", low=0.0, low_open=True)

    def step_clock(self, d: int | None) -> StepClock:
        """An iteration advances t by δ at every d (the theory has iterations even at d = ∞)."""
        return StepClock(self.batch_fraction, 1, "ProxLinear.batch_fraction")

    def samples_per_step(self, d: int) -> int:
        """m = δ·d measurements per iteration; ValueError unless it is a whole number >= 1."""
        delta = float(self.batch_fraction)
        if delta * d < 1 - 1e-9:
            raise ValueError(f"d is too small for ProxLinear.batch_fraction = {delta:g}: the batch "
                             f"m = batch_fraction * d must be >= 1, so d >= {1 / delta:g} (got d = {d})")
        m = round(delta * d)
        if abs(m - delta * d) > 1e-9 * delta * d:
            raise ValueError(f"ProxLinear.batch_fraction * d must be a whole number of measurements "
                             f"(got {delta:g} * {d} = {delta * d:g}); change d or batch_fraction")
        return m

    def init(self, params, clock):
        return None

    def update(self, params, state, batch, clock):
        lsq = batch.linearize(params)
        dtype = lsq.residual.dtype
        m = lsq.residual.shape[0]
        inv_step_m = (m / self.checked_step()).astype(dtype)
        step = prox_solve(lambda lam: lsq.jvp(lsq.vjp(lam)) + inv_step_m * lam,
                          lsq.row_norms2 + inv_step_m, lsq.residual, self.solver)
        return jax.tree.map(lambda p, u: p + u, params, lsq.vjp(step)), state

    def describe(self) -> str:
        """A short label, e.g. `prox-linear η=1, δ=2`."""
        return f"prox-linear η={float(self.step):.4g}, δ={float(self.batch_fraction):.4g}"


def _cg_tolerance(dtype) -> float:
    return 1e-10 if dtype == jnp.float64 else 1e-5


def prox_solve(matvec: Callable, diag: Array, r: Array, solver: str) -> Array:
    """λ with K λ = r for the symmetric positive definite K = `matvec` (diagonal `diag`):
    matrix-free CG with a Jacobi preconditioner (lineax), or a dense solve."""
    import lineax as lx

    m, dtype = r.shape[0], r.dtype
    if solver == "dense":
        K = jax.vmap(matvec, out_axes=1)(jnp.eye(m, dtype=dtype))
        return jnp.linalg.solve(K, r)
    struct = jax.ShapeDtypeStruct((m,), dtype)
    op = lx.FunctionLinearOperator(matvec, struct, tags=lx.positive_semidefinite_tag)
    pre = lx.TaggedLinearOperator(lx.DiagonalLinearOperator(1.0 / diag), lx.positive_semidefinite_tag)
    tol = _cg_tolerance(dtype)
    sol = lx.linear_solve(op, r, lx.CG(rtol=tol, atol=tol, max_steps=10 * m),
                          options={"preconditioner": pre}, throw=False)
    return sol.value


def optimizer_class(kind: str, base=None) -> type[AbstractOptimizer]:
    """The optimizer class of a kind: a registered or installed kind, or
    `"package.module:Class"` / `"file.py:Class"` (relative to `base`) for one from outside."""
    return OPTIMIZERS.resolve(kind, base, AbstractOptimizer)


def optimizer_from_config(table: Table, base=None) -> AbstractOptimizer:
    """Build the optimizer named by the table's `kind` (default "sgd"; `base`: the folder
    that a `"file.py:Class"` kind is relative to)."""
    kind = table.string("kind", None, "sgd")
    if not is_spec(kind) and kind not in OPTIMIZERS:
        table.fail("kind", f"must be one of {', '.join(OPTIMIZERS.names())} or "
                           f"'package.module:Class' (got {kind!r})")
    try:
        cls = optimizer_class(kind, base)
    except ValueError as err:
        table.fail("kind", str(err))
    return cls.from_config(table)


def as_optimizer(optimizer) -> AbstractOptimizer:
    """A hild optimizer as it is; an optax `GradientTransformation` (e.g. `optax.adam(1e-3)`)
    as `Optax(transform)`, one sample per step."""
    if isinstance(optimizer, AbstractOptimizer):
        return optimizer
    import optax

    if isinstance(optimizer, optax.GradientTransformation):
        from .transforms import Optax

        return Optax(optimizer)
    raise TypeError(f"optimizer must be a hild optimizer or an optax GradientTransformation "
                    f"(got {type(optimizer).__name__})")


__all__ = ["AbstractOptimizer", "SGD", "ProxLinear", "LeastSquaresBatch", "optimizer_from_config",
           "optimizer_class", "as_optimizer", "prox_solve", "OPTIMIZERS"]
