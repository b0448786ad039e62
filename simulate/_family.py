"""The family interface, simulation side: what a family gives `simulate`.

docs/families.md is the full contract. A family defines one subclass of `AbstractSimulation`
with `problem = <its problem class>`, which registers it (hild's own, and installed ones, are
also found through the entry-point group `hild.simulations`, by family name). It says how to
draw one instance (the fixed data of a seed, e.g. a teacher, and the initial parameters, a dict
parameter group -> array), how to draw the fresh samples of one step (`sample`), what to
measure (the exact population risk and the order parameters of the theory), and what an
optimizer may ask of a batch of samples: the mean gradient (by default `jax.grad` of the
batch's `loss`, times the family's `gradient_scale`) or the linearised residuals
(`linearize`, for prox-linear steps). The generic driver (`simulate.simulate`) does the rest;
it draws the samples of many steps in one vmapped call, so `sample` must depend on its key
only (not on the parameters).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from hild.theory import AbstractProblem, LeastSquaresBatch, Observation
from hild.theory.registry import Registry, entry_points

SIMULATIONS: Registry[type["AbstractSimulation"]] = Registry("simulated problem")
GROUP = "hild.simulations"
"""Entry-point group of installed simulations, named by their family."""


class Instance(NamedTuple):
    """One seed: `params` (parameter group -> array, what the optimizer updates), `fixed`
    (anything else the seed keeps, e.g. a teacher), and `data_key`, the key its fresh samples
    are drawn from (step k draws from `fold_in(data_key, k)`)."""

    params: dict
    fixed: Any
    data_key: Any


class AbstractSimulation(eqx.Module):
    """The finite-d side of a family (stateless; one instance per family)."""

    problem: ClassVar[type[AbstractProblem]]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        problem = cls.__dict__.get("problem")
        if problem is not None:
            SIMULATIONS.register(f"{problem.__module__}.{problem.__qualname__}", cls)

    fixed_dimension: ClassVar[str] = "the problem's d"
    """How errors name the dimension a fixed-d problem sets (e.g. the length of a spectrum)."""

    def dimension(self, problem, d: int | None) -> int:
        """The input dimension: the one the problem fixes (`problem.dimension`; `d` must then
        be None or equal), else `d`, checked (families without a fixed d override this)."""
        fixed = problem.dimension
        if fixed is None:
            raise NotImplementedError
        if d is not None and d != fixed:
            raise ValueError(f"d must equal {self.fixed_dimension} ({fixed}) or be None (got {d})")
        return fixed

    def draw(self, problem, key, d: int, dtype) -> Instance:
        """One seed's instance at dimension d."""
        raise NotImplementedError

    def observe(self, problem, fixed, params) -> Observation:
        """The risk, the named observables and the order parameters of the current weights."""
        raise NotImplementedError

    def sample(self, problem, fixed, key, batch: int) -> Any:
        """The `batch` fresh samples of one step, drawn with `key` (a pytree of arrays)."""
        raise NotImplementedError

    def sample_at(self, problem, fixed, data_key, step, batch: int) -> Any:
        """The samples of step `step` (traced): by default `sample` with the key
        `fold_in(data_key, step)`. A family whose batches depend on the step itself (a pass
        over a stored data set without replacement) overrides this instead of `sample`."""
        return self.sample(problem, fixed, jax.random.fold_in(data_key, step), batch)

    def rotated_basis(self, problem) -> str | None:
        """None when the simulation runs in the problem's own input coordinates (the
        default); else what basis it runs in (e.g. a covariance's eigenbasis), so that rules
        that are not rotation-invariant are refused instead of silently simulating another
        problem."""
        return None

    def loss(self, problem, fixed, params, sample):
        """The mean training loss over the samples, a function of `params` (the default
        `gradient` differentiates it; loss-based adaptive rates read it)."""
        raise TypeError(f"{type(problem).__name__} has no batch loss in simulate/")

    def gradient_scale(self, problem, params) -> dict[str, float]:
        """The factor of each parameter group's gradient in the family's scaled
        parametrisation (e.g. 1/d for least squares' weights: per-step size η/d); 1 for a
        group it does not name."""
        return {}

    def gradient(self, problem, fixed, params, sample) -> dict:
        """The mean gradient over the samples, per parameter group, in the family's scaled
        parametrisation (an SGD step subtracts lr × this): `jax.grad` of `loss` times
        `gradient_scale`."""
        if type(self).loss is AbstractSimulation.loss:
            raise TypeError(f"{type(problem).__name__} has no stochastic gradient in simulate/")
        grads = jax.grad(lambda p: self.loss(problem, fixed, p, sample))(params)
        scale = self.gradient_scale(problem, params)
        return {name: g * scale[name] if name in scale else g for name, g in grads.items()}

    def line_search_oracle(self, problem, fixed, params, sample):
        """(slope, curvature) at s = 0 of s -> E over a fresh batch like `sample` of the
        population risk after the step params - s × gradient (an idealized line search)."""
        raise TypeError(f"{type(problem).__name__} has no line-search oracle in simulate/")

    def linearize(self, problem, fixed, params, sample) -> LeastSquaresBatch:
        """The samples' residuals and their Jacobian at `params` (for prox-linear steps)."""
        raise TypeError(f"{type(problem).__name__} has no linearised residuals in simulate/")

    def metadata(self, problem, optimizer, d: int) -> dict:
        """Plain values for `Curve.metadata`."""
        return {}


class LeastSquares(AbstractSimulation):
    r"""The least-squares families' loss (linreg, dataset, power_law_rf): samples (x, y), weights
    θ, the batch loss $\tfrac12\,\mathrm{mean}_b(\theta\cdot x_b - y_b)^2$ and the per-step
    size η/d of docs/theory.md, Least squares (the gradient over d)."""

    def loss(self, problem, fixed, params, sample):
        x, y = sample
        return 0.5 * jnp.mean((x @ params["weights"] - y) ** 2)

    def gradient_scale(self, problem, params):
        return {"weights": 1.0 / params["weights"].shape[0]}


def weights_at_overlaps(key, direction, m, q, dtype):
    r"""Weights w with $w\cdot u/d = m$ and $\|w\|^2/d = q$ for a `direction` u with
    $\|u\|^2 = d$: m u plus a uniformly random part orthogonal to u (the student of a given
    overlap with a teacher or a cluster mean)."""
    d = direction.shape[0]
    u = jax.random.normal(key, (d,), dtype)
    u = u - (u @ direction) / d * direction
    u = math.sqrt(d) * u / jnp.linalg.norm(u)
    return m * direction + jnp.sqrt(jnp.maximum(q - m * m, 0.0)) * u


def _key(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def simulation_of(problem: AbstractProblem) -> AbstractSimulation:
    """The registered simulation of the problem's class (an installed one is imported from
    the entry point of its family's name in `hild.simulations`)."""
    cls = type(problem)
    sim = SIMULATIONS.get(_key(cls))
    if sim is None:
        ep = entry_points(GROUP).get(getattr(cls, "family", ""))
        if ep is not None:
            ep.load()
            sim = SIMULATIONS.get(_key(cls))
    if sim is None:
        raise TypeError(f"hild has no simulation of {cls.__name__}: define an "
                        f"AbstractSimulation with problem = {cls.__name__} in a module imported "
                        f"with it, or install one in the entry-point group {GROUP!r}")
    return sim()


class FreshBatch(NamedTuple):
    """The fresh samples of one step at dimension `d`: an optimizer asks them for what it
    needs (`gradient(params)`, `linearize(params)`, the batch's mean `loss(params)`, or the
    population `risk(params)` of any parameters, e.g. along a line)."""

    simulation: AbstractSimulation
    problem: Any
    fixed: Any
    sample: Any
    d: int = 0

    def gradient(self, params) -> dict:
        """The gradient of the batch loss at `params` (the simulation's `gradient`)."""
        return self.simulation.gradient(self.problem, self.fixed, params, self.sample)

    def loss(self, params):
        """The training loss of `params` on this batch."""
        return self.simulation.loss(self.problem, self.fixed, params, self.sample)

    def risk(self, params):
        """The population risk of `params` (the simulation's `observe(...).risk`)."""
        return self.simulation.observe(self.problem, self.fixed, params).risk

    def line_search_oracle(self, params):
        """What an idealised line search needs at `params` on this batch."""
        return self.simulation.line_search_oracle(self.problem, self.fixed, params, self.sample)

    def linearize(self, params) -> LeastSquaresBatch:
        """The batch as least squares around `params` (a `LeastSquaresBatch`, for prox-linear)."""
        return self.simulation.linearize(self.problem, self.fixed, params, self.sample)
