"""The family interface, theory side: what a family of learning problems gives `predict`.

docs/families.md is the full contract (theory, simulation, and what compare/ reads). A family
is one final subclass of `AbstractProblem` with `family = "name"`, in its own module of
theory/. It states its problem (fields, validation, config) and its theory:

- `optimizers`, `methods`: the optimizer classes it has a theory for, and its methods
  (name -> "recursion", "ode" or "closed"; the first is the default);
- `initial_state(init)`: the order parameters at t = 0 (`init` given, or the default);
- `clock(optimizer)`: how far t = samples/d moves per step of its recursion (None for a
  theory in continuous t without d);
- `dynamics(optimizer, state, method, **options)`: a `Recursion` (a one-step map) or an
  `ODE` (a vector field), with `observe` giving the risk, named extra observables and the
  state to record.

One generic driver (`theory.predict`) does the rest: horizon, record grid, `lax.scan` or
`diffrax.diffeqsolve`, divergence, `Curve`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._checks import is_concrete
from ._config import Table
from ._registry import Registry

FAMILIES: Registry[type["AbstractProblem"]] = Registry("family")
DEFAULT_FAMILY = "linreg"
"""The family whose example config runs when none is named (`hild compare` alone)."""

DEFAULT_RISK_LABEL = r"risk  $\frac{1}{2}\mathbb{E}[(f - f^*)^2]$"


class Observation(NamedTuple):
    """What is recorded of a state: the risk (a scalar), named extra observables (scalars,
    e.g. per-class errors) and the order parameters to keep in `Curve.state` (or None)."""

    risk: Array
    observables: dict[str, Array]
    state: Any


MAX_STEPS = 2**31 - 1
"""The most optimizer steps one run may take (step indices are int32 inside jit)."""


class StepClock(NamedTuple):
    """A step moves t = samples/d by `samples / d`. `samples` may be traced (a vmap over batch
    sizes); then `lower`, a bound below it, caps the number of steps of a horizon in t, and
    `field` names it in errors."""

    samples: Any
    d: int | float
    field: str = "batch"
    lower: float | None = None

    def time(self, step) -> Array:
        if isinstance(step, np.ndarray) and self.concrete:
            return step.astype(np.float64) * float(self.samples) / self.d
        return jnp.asarray(step).astype(jnp.result_type(float)) * self.samples / self.d

    @property
    def concrete(self) -> bool:
        return is_concrete(self.samples)

    def steps_for(self, t: float) -> int:
        """Steps in a horizon of t samples/d: ceil(t d / samples), at least 1."""
        samples = float(self.samples) if self.concrete else self.lower
        if samples is None:
            raise ValueError(f"{self.field} must be concrete for a horizon in t (it sets the "
                             "number of steps); give steps= to vmap over it")
        steps = t * self.d / samples
        if not steps <= MAX_STEPS:
            raise ValueError(f"t: a horizon of t = {t:g} takes {steps:.3g} steps of "
                             f"{samples:g} samples at d = {self.d}, more than {MAX_STEPS}")
        return max(1, math.ceil(steps - 1e-9))


class Recursion(NamedTuple):
    """A deterministic one-step map: `carry = step(carry, k)` for k = 0, 1, ...; `observe`
    maps a carry to an `Observation`; `floor` enters the divergence threshold."""

    init: Any
    step: Callable[[Any, Array], Any]
    observe: Callable[[Any], Observation]
    floor: Array
    label: str


class ODE(NamedTuple):
    """An ODE in t = samples/d: `vector_field(t, y, args)` as for `diffrax.ODETerm`."""

    init: Any
    vector_field: Callable[[Array, Any, Any], Any]
    observe: Callable[[Any], Observation]
    floor: Array
    label: str


class Closed(NamedTuple):
    """The order parameters at any step without stepping: `at(steps)` maps an integer array of
    steps to an `Observation` whose leaves have a leading axis of that length (e.g. a
    transform inverted per step). An unstable setting returns non-finite risks."""

    at: Callable[[Array], Observation]
    floor: Array
    label: str


class BenchCase(NamedTuple):
    """What `hild bench` times for a family: one theory curve per method, the simulation it
    replaces (and, with `big_d`, a hundredth of the horizon at that d, extrapolated), and a
    vmapped grid over the optimizer field `sweep` against one curve at `sweep_horizon`
    (and against a Python loop of single curves; `work_per_curve` names the unit of work
    one sweep curve does, for a throughput in units per second)."""

    problem: Any
    optimizer: Any
    horizon: dict
    simulation: dict
    sweep: str
    sweep_values: Any
    sweep_horizon: dict
    big_d: int | None = None
    theory_options: dict = {}
    work_per_curve: tuple[str, float] | None = None  # e.g. ("mode updates", d · steps)


class AbstractProblem(eqx.Module):
    """A learning problem stated in macroscopic terms (data, target, model, loss) together with
    its theory. See docs/families.md for the contract; every hook below has its meaning there.
    """

    family: ClassVar[str]
    optimizers: ClassVar[tuple[type, ...]] = ()
    methods: ClassVar[dict[str, str]] = {}
    theory_options: ClassVar[dict[str, Any]] = {}
    """Family options of `predict` (name -> default), passed to `dynamics` and `analyse`."""
    ode_tolerances: ClassVar[tuple[float, float, int]] = (1e-8, 1e-10, 100_000)
    """Default (rtol, atol, max_steps) of the ODE methods."""
    observable_labels: ClassVar[dict[str, str]] = {}
    """Axis labels of the named extra observables (also their order in outputs)."""
    example_config: ClassVar[Path | None] = None
    """A documented TOML config of the family outside hild (built-in families keep theirs in
    compare/defaults/<family>.toml)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("family")
        if name is not None:
            FAMILIES.register(name, cls)

    # ----------------------------------------------------------------- problem
    def to_config(self) -> dict:
        """A TOML-ready table that `from_config` reads back."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, table: Table) -> "AbstractProblem":
        """Build the problem from a config table, naming any bad field."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short label with the problem's main parameters (for legends)."""
        raise NotImplementedError

    @property
    def dimension(self) -> int | None:
        """The input dimension d when the problem fixes it (its `d`), else None."""
        return getattr(self, "d", None)

    # ----------------------------------------------------------------- theory
    def initial_state(self, init=None) -> Any:
        """The order parameters at t = 0: `init` (validated, in the family's state type or a
        plain form of it) or the problem's default."""
        raise NotImplementedError

    def clock(self, optimizer) -> StepClock | None:
        """How t advances per step of the theory; None for a continuous-time theory without d
        (then `predict` takes t= only and records at times, not steps)."""
        return None

    def dynamics(self, optimizer, state, method: str, **options) -> Recursion | ODE | Closed:
        """The theory of `method` from `state` (called under `jit`; options are static)."""
        raise NotImplementedError

    def check_method(self, optimizer, method: str) -> None:
        """Raise ValueError, on the host before anything is traced, for an optimizer setting
        that `method` does not cover (concrete values; traced ones are checked in `dynamics`)."""

    def analyse(self, optimizer, state, t_end: float, ode: dict, **options) -> dict:
        """Extra metadata computed after a concrete prediction (e.g. a plateau); {} if none."""
        return {}

    def metadata(self) -> dict:
        """Plain values describing the problem for `Curve.metadata`."""
        return {}

    def divergence_floor(self) -> Array:
        """The risk scale below which nothing counts as divergence (threshold: 1e4 ×
        max(initial risk, floor))."""
        return jnp.asarray(1.0)

    def parameter_groups(self) -> tuple[str, ...]:
        """Names of the trained parameter groups (an optimizer may give each its own rate)."""
        return ()

    # ----------------------------------------------------------------- compare/ reads these
    def risk_label(self) -> str:
        """The y-axis label of `Curve.risk`."""
        return DEFAULT_RISK_LABEL

    def stability_limit(self, optimizer) -> Array | None:
        """The largest stable constant learning rate for `optimizer`'s other settings, where
        the family has a formula; None otherwise."""
        return None

    def with_model_size(self, d: int, replica: int = 0) -> "AbstractProblem":
        """The same task learned by a model of size d (for compute-optimal scaling laws,
        `compare.frontier`); `replica` r > 0 is an independent draw of the model's random
        parts (averaged over by `frontier(replicas=...)`). Families without a model size
        raise TypeError."""
        raise TypeError(f"{type(self).__name__} ({self.family}) has no model size to scale")

    def compute_optimal_exponents(self) -> dict | None:
        """The predicted compute-optimal exponents where the family has them: a dict with
        `phase`, `model_size` (d* ∝ f^x) and `loss` (P* ∝ f^-y) and `reference`; None otherwise."""
        return None

    @classmethod
    def bench_case(cls, quick: bool = False) -> BenchCase | None:
        """The setting `hild bench` times; None if the family has none."""
        return None


def families() -> dict[str, type[AbstractProblem]]:
    """The registered families: name -> problem class."""
    return dict(FAMILIES.items())


def problem_class(name: str) -> type[AbstractProblem]:
    return FAMILIES[name]


def check_optimizer(problem: AbstractProblem, optimizer) -> None:
    """TypeError unless the family has a theory for this optimizer; ValueError for a rate
    given to a parameter group the problem does not train."""
    supported = type(problem).optimizers
    if not isinstance(optimizer, supported):
        names = " or ".join(c.__name__ for c in supported) or "no optimizer"
        raise TypeError(f"{type(problem).__name__} ({problem.family}) supports {names} "
                        f"(got {type(optimizer).__name__})")
    groups = problem.parameter_groups()
    for name in getattr(optimizer, "group_lr", {}):
        if name not in groups:
            raise ValueError(f"{type(optimizer).__name__}.group_lr: {problem.family} trains the "
                             f"parameter groups {', '.join(groups) or 'none'} (got {name!r})")
