"""The family interface, theory side: the required core of a family's problem class.

docs/families.md is the full contract. A family is one final subclass of `AbstractProblem`
with `family = "name"`; defining the class registers it, and the class statement fails
(`TypeError`) when a required hook is missing. The required core:

- `family` (the registry name), `methods` (name -> "recursion", "ode" or "closed"; the
  first is the default; the vocabulary: "exact" = the exact finite-d theory, "limit" =
  the high-d limit), `initial_state(init)` (the order parameters at t = 0);
- `clock(optimizer)` (how far t = samples/d moves per step; by default the optimizer's
  `step_clock` at the problem's `dimension`);
- the dynamics: one function per (problem, optimizer) pair, registered with
  `theory.register_theory` (`theory._theories`), returning a `Recursion`, an `ODE` or a
  `Closed`.

Optional hooks have defaults here (config round trip from the constructor, `describe`,
`metadata`, `divergence_floor`, `parameter_groups`, `dimension`, `theory_options`,
`ode_tolerances`); the rest are optional protocols grouped by purpose (`theory.protocols`:
presentation, tuning, scaling laws, benchmarks, analysis) that callers ask for with
`isinstance`.
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

from .checks import is_concrete
from .fields import Configurable
from .registry import Registry

FAMILIES: Registry[type["AbstractProblem"]] = Registry("family", group="hild.families")
"""Families by name: every defined `AbstractProblem` subclass with a `family`, and the
installed ones (entry-point group `hild.families`, hild's own included)."""
DEFAULT_FAMILY = "linreg"
"""The family whose example config runs when none is named (`hild compare` alone)."""



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
        """t = step × samples / d (README, Conventions: Time); numpy when concrete."""
        if isinstance(step, np.ndarray) and self.concrete:
            return step.astype(np.float64) * float(self.samples) / self.d
        return jnp.asarray(step).astype(jnp.result_type(float)) * self.samples / self.d

    @property
    def concrete(self) -> bool:
        """True when the samples per step are a concrete number (not traced)."""
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


METHOD_KINDS = ("recursion", "ode", "closed")
EXACT, LIMIT = "exact", "limit"
"""The method vocabulary: the exact finite-d theory and the high-d limit have these names in
every family (other methods are named for what they are: "volterra", "gaussian")."""
RETIRED_METHODS = {"ode": LIMIT, "recursion": EXACT}
"""Method names of hild before one vocabulary; a family without "exact" called its limit
recursion "recursion" (rank-one sensing)."""

_REQUIRED = ("initial_state",)


class AbstractProblem(eqx.Module, Configurable):
    """A learning problem stated in macroscopic terms (data, target, model, loss); its
    theories are registered per optimizer (`register_theory`). See docs/families.md.
    """

    family: ClassVar[str]
    methods: ClassVar[dict[str, str]]
    """The family's methods, name -> kind ("recursion", "ode" or "closed"); the first is the
    default of `predict`."""
    theory_options: ClassVar[dict[str, Any]] = {}
    """Family options of `predict` (name -> default), passed to the theory and to `analyse`."""
    ode_tolerances: ClassVar[tuple[float, float, int]] = (1e-8, 1e-10, 100_000)
    """Default (rtol, atol, max_steps) of the ODE methods."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("family")
        if name is None:
            return  # an abstract intermediate class
        missing = [hook for hook in _REQUIRED if getattr(cls, hook) is getattr(AbstractProblem, hook)]
        methods = getattr(cls, "methods", None)
        if not isinstance(methods, dict) or not methods:
            missing.append("methods")
        if missing:
            raise TypeError(f"{cls.__name__} (family {name!r}) must define "
                            f"{', '.join(missing)} (docs/families.md)")
        bad = {m: k for m, k in methods.items() if k not in METHOD_KINDS}
        if bad:
            raise TypeError(f"{cls.__name__}.methods: each kind must be one of "
                            f"{', '.join(METHOD_KINDS)} (got {bad})")
        FAMILIES.register(name, cls)

    # ----------------------------------------------------------------- required
    def initial_state(self, init=None) -> Any:
        """The order parameters at t = 0: `init` (validated, in the family's state type or a
        plain form of it) or the problem's default."""
        raise NotImplementedError

    # ----------------------------------------------------------------- defaults
    def clock(self, optimizer) -> StepClock | None:
        """How t advances per step of the theory: the optimizer's `step_clock` at the
        problem's `dimension` (None: a theory in continuous t without d, which records at
        times and takes `t=` only)."""
        return optimizer.step_clock(self.dimension)

    @property
    def dimension(self) -> int | None:
        """The input dimension d when the problem fixes it (its `d`), else None."""
        return getattr(self, "d", None)

    def describe(self) -> str:
        """A short label with the problem's main parameters (for legends)."""
        return f"{self.family} ({type(self).__name__})"

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


def families() -> dict[str, type[AbstractProblem]]:
    """Every family, name -> problem class (the installed ones are imported)."""
    return FAMILIES.load_all()


def family_names() -> tuple[str, ...]:
    """The names of the defined and installed families (nothing is imported)."""
    return FAMILIES.names()


def problem_class(name: str, base=None) -> type[AbstractProblem]:
    """The problem class of a family: a registered or installed name, or
    `"package.module:Class"` / `"file.py:Class"` (relative to `base`) for one from outside."""
    return FAMILIES.resolve(name, base, AbstractProblem)


def check_parameter_groups(problem: AbstractProblem, optimizer) -> None:
    """ValueError for a rate given to a parameter group the problem does not train."""
    groups = problem.parameter_groups()
    for name in getattr(optimizer, "group_lr", {}):
        if name not in groups:
            raise ValueError(f"{type(optimizer).__name__}.group_lr: {problem.family} trains the "
                             f"parameter groups {', '.join(groups) or 'none'} (got {name!r})")


def method_of(cls: type[AbstractProblem], method: str | None) -> str:
    """The method `method` names for the family (default: its first); an old name gets a
    one-line pointer to the new one."""
    if method is None:
        return next(iter(cls.methods))
    if isinstance(method, str) and method in cls.methods:
        return method
    hint = ""
    if isinstance(method, str) and method in RETIRED_METHODS:
        new = EXACT if method == "recursion" and EXACT in cls.methods else LIMIT
        if new in cls.methods:
            hint = (f"; {method!r} is now {new!r} (one vocabulary: 'exact' is the exact "
                    f"finite-d theory, 'limit' the high-d limit)")
    raise ValueError(f"method must be one of {', '.join(cls.methods)} (got {method!r}){hint}")
