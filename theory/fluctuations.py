r"""The seed-to-seed spread at finite d: the linear-noise (system-size) expansion of an ODE.

Online SGD moves the order parameters $x$ by $d$ small independent increments per unit of
t = samples/d, each of mean $F(x, t)/d$ and covariance $D(x, t)/d^2$; so across seeds
$x = \bar x + \delta x$ with $\bar x' = F(\bar x, t)$ (the family's ODE) and, to leading
order in 1/d, $\Sigma = \mathrm{Cov}(\delta x)$ obeying the Lyapunov ODE

$$\Sigma' = J\Sigma + \Sigma J^\top + D/d, \qquad J = \partial F/\partial x,$$

with $J$ from `jax.jacfwd` of the family's vector field and $D$ from the family
(`protocols.Fluctuating`). The spread of the risk and of every named observable follows by the
delta method, $\mathrm{Var}\,\phi = \nabla\phi^\top\Sigma\nabla\phi$. Van Kampen, *Stochastic
Processes in Physics and Chemistry*, ch. X; docs/theory.md, Finite-d fluctuations.

Assumes: the increments are independent given $x$ (fresh samples, B ≪ d), $\delta x$ stays
small (the expansion fails where $\Sigma$ grows to the size of $\bar x$'s features, e.g.
during an escape from an unstable fixed point, where it still gives the early growth).
"""

from __future__ import annotations

from typing import NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ._family import AbstractProblem
from ._predict import make_horizon
from ._record import record_grid
from ._theories import theory_for
from .checks import check_int_range
from .optim import as_optimizer
from .protocols import Fluctuating


class Spread(NamedTuple):
    """The linear-noise prediction: means and one-run standard deviations at times `t`.

    `risk`, `observables` are the ODE's mean curves; `risk_std`, `observable_std` the
    predicted standard deviation of one run across seeds at dimension `d`; `state_mean`
    (T, n) and `state_cov` (T, n, n) the order parameters flattened in the order of
    `state_names`."""

    t: np.ndarray
    d: int
    risk: np.ndarray
    risk_std: np.ndarray
    observables: dict
    observable_std: dict
    state_mean: np.ndarray
    state_cov: np.ndarray
    state_names: tuple

    def std(self, observable: str = "risk") -> np.ndarray:
        return self.risk_std if observable == "risk" else self.observable_std[observable]

    def mean(self, observable: str = "risk") -> np.ndarray:
        return self.risk if observable == "risk" else self.observables[observable]


def has_fluctuations(problem) -> bool:
    """Whether the family supplies the increments' covariance (`protocols.Fluctuating`)."""
    return isinstance(problem, Fluctuating)


def fluctuations(problem: AbstractProblem, optimizer, *, d: int, t: float | None = None,
                 num_points: int = 100, spacing: str = "linear", save_at=None, init=None,
                 init_covariance=None, method: str | None = None) -> Spread:
    """The linear-noise expansion around the family's ODE (module docstring) at dimension d.

    `init`: the initial order parameters (as for `predict`); `init_covariance`: d times
    their covariance across seeds, an (n, n) array in the order of `Spread.state_names`
    (default: the family's `initial_covariance` of its random start when `init` and
    `problem.init` are None, else zero: every seed starts at the same overlaps)."""
    check_int_range("d", d, 1, 2**31 - 1)
    if not isinstance(problem, Fluctuating):
        raise TypeError(f"{problem.family} does not define increment_covariance (the "
                        "protocol Fluctuating): no finite-d spread from theory")
    optimizer = as_optimizer(optimizer)
    horizon = make_horizon(None, t, num_points, spacing, save_at)
    theory, method = theory_for(problem, optimizer, method)
    options = tuple(sorted(type(problem).theory_options.items()))
    state0 = problem.initial_state(init)
    x0 = ravel_pytree(state0)[0]
    n = x0.shape[0]
    if init_covariance is None:
        random_start = init is None and getattr(problem, "init", None) is None
        init_covariance = problem.initial_covariance(state0) if random_start else \
            jnp.zeros((n, n), x0.dtype)
    sigma0 = jnp.asarray(init_covariance, x0.dtype)
    if sigma0.shape != (n, n):
        raise ValueError(f"init_covariance must have shape ({n}, {n}) (got {sigma0.shape})")
    grid = record_grid(horizon, problem.clock(optimizer))
    times = jnp.asarray(grid.times, x0.dtype)
    kind = type(theory.dynamics(problem, optimizer, state0, method, **dict(options))).__name__
    if kind != "ODE":
        raise TypeError(f"fluctuations needs an ODE theory ({problem.family} method {method!r} "
                        f"is a {kind})")
    means, covs, risk, risk_var, obs, obs_var = _solve(
        theory.dynamics, problem, optimizer, state0, sigma0 / d, times, jnp.asarray(d, x0.dtype),
        method, options, problem.ode_tolerances)
    std = lambda v: np.sqrt(np.maximum(np.asarray(v), 0.0))
    return Spread(np.asarray(times), int(d), np.asarray(risk), std(risk_var),
                  {k: np.asarray(v) for k, v in obs.items()},
                  {k: std(v) for k, v in obs_var.items()},
                  np.asarray(means), np.asarray(covs), state_names(state0))


def state_names(state) -> tuple:
    """Names of the flattened order parameters ("m", "Q[0,1]", ...)."""
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    names = []
    for path, leaf in leaves:
        base = jax.tree_util.keystr(path).lstrip(".")
        shape = np.shape(leaf)
        names += [base] if shape == () else \
            [f"{base}[{','.join(map(str, i))}]" for i in np.ndindex(*shape)]
    return tuple(names)


@eqx.filter_jit
def _solve(dynamics, problem, optimizer, state0, sigma0, times, d, method, options, tolerances):
    """One compiled program per theory and shapes: the mean and the Lyapunov ODE together,
    then the delta method at the record times."""
    rtol, atol, max_steps = tolerances
    dyn = dynamics(problem, optimizer, state0, method, **dict(options))
    x0, unravel = ravel_pytree(dyn.init)

    def flat_field(t, x):
        return ravel_pytree(dyn.vector_field(t, unravel(x), None))[0]

    def field(t, y, args):
        x, sigma = y
        jac = jax.jacfwd(lambda z: flat_field(t, z))(x)
        noise = problem.increment_covariance(optimizer, unravel(x), t)
        return flat_field(t, x), jac @ sigma + sigma @ jac.T + noise / d

    means, covs = diffrax.diffeqsolve(
        diffrax.ODETerm(field), diffrax.Tsit5(), t0=0.0, t1=times[-1], dt0=None,
        y0=(x0, sigma0), saveat=diffrax.SaveAt(ts=times), max_steps=max_steps,
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol)).ys
    covs = 0.5 * (covs + jnp.swapaxes(covs, 1, 2))
    return (means, covs) + _delta_method(dyn.observe, unravel, means, covs)


def _delta_method(observe, unravel, means, covs):
    def quantities(x):
        obs = observe(unravel(x))
        return obs.risk, dict(obs.observables)

    def one(x, cov):
        value = quantities(x)
        grads = jax.jacfwd(quantities)(x)
        var = jax.tree.map(lambda g: g @ cov @ g, grads)
        return value, var

    (risk, obs), (risk_var, obs_var) = jax.vmap(one)(means, covs)
    return risk, risk_var, obs, obs_var


class SpreadScore(NamedTuple):
    """Measured over predicted standard deviation of runs at each checkpoint: `ratio`, its
    standard error `ratio_se` (from the runs' sample kurtosis), and their summary."""

    t: np.ndarray
    measured_std: np.ndarray
    predicted_std: np.ndarray
    ratio: np.ndarray
    ratio_se: np.ndarray
    seeds: int

    def summary(self) -> dict:
        """The median ratio over checkpoints and the median of its standard errors."""
        return {"ratio_median": float(np.median(self.ratio)),
                "ratio_se_median": float(np.median(self.ratio_se)),
                "ratio_min": float(np.min(self.ratio)), "ratio_max": float(np.max(self.ratio)),
                "seeds": self.seeds, "checkpoints": int(self.ratio.size)}


def spread_score(sim, spread: Spread, observable: str = "risk", *, min_t: float = 0.0,
                 relative_floor: float = 1e-9) -> SpreadScore:
    """Score a simulation's seed-to-seed spread against `spread` at their shared times > min_t
    (the prediction interpolated linearly to the simulation's record times; record the spread
    on the same grid, or finely, for a faithful score). The standard error of a sample standard
    deviation s of S runs is s·sqrt((k − 1)/S)/2 with k the sample kurtosis (Gaussian: k = 3).
    Checkpoints whose predicted spread is below `relative_floor` times the mean are skipped."""
    values = np.asarray(sim.values(observable), dtype=np.float64)
    values = values[np.all(np.isfinite(values), axis=1)]
    seeds = values.shape[0]
    if seeds < 4:
        raise ValueError(f"spread_score needs >= 4 finite seeds (got {seeds})")
    t_sim = np.asarray(sim.t, dtype=np.float64)
    span = spread.t[-1] - spread.t[0]
    if t_sim[0] < spread.t[0] - 1e-9 * span or t_sim[-1] > spread.t[-1] + 1e-6 * span:
        raise ValueError(f"spread_score: the simulation's times [{t_sim[0]:g}, {t_sim[-1]:g}] "
                         f"must lie within the spread's [{spread.t[0]:g}, {spread.t[-1]:g}]")
    predicted = np.interp(t_sim, spread.t, spread.std(observable))
    scale = np.abs(np.interp(t_sim, spread.t, spread.mean(observable)))
    keep = (t_sim > min_t) & (predicted > relative_floor * np.maximum(scale, 1e-300))
    dev = values[:, keep] - values[:, keep].mean(axis=0)
    var = np.sum(dev**2, axis=0) / (seeds - 1)
    kurt = np.mean(dev**4, axis=0) / np.maximum(np.mean(dev**2, axis=0) ** 2, 1e-300)
    measured = np.sqrt(var)
    ratio = measured / predicted[keep]
    ratio_se = ratio * np.sqrt(np.maximum(kurt - 1.0, 0.0) / seeds) / 2
    return SpreadScore(t_sim[keep], measured, predicted[keep], ratio, ratio_se, seeds)


__all__ = ["Spread", "SpreadScore", "fluctuations", "has_fluctuations", "spread_score",
           "state_names"]
