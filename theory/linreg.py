r"""Least squares with online mini-batch SGD: the exact finite-d recursion and its high-d ODE.

Data $x \sim N(0, \Sigma)$, $\Sigma = \mathrm{diag}(\lambda)$ (any PSD $\Sigma$ reduces to this in
its eigenbasis), target $y = \theta^*\cdot x + \sigma\xi$, model $f = \theta\cdot x$ with
$\theta = w/\sqrt d$ (pre-activation $w\cdot x/\sqrt d$). `SGD(lr=η, batch=B, momentum=β)`
takes the per-step size $\gamma = \eta/d$ in θ units, so η is O(1): the critical η of
isotropic data is $2d/(d+2) \to 2$. Time $t = kB/d$. THEORY.md §1; Bordelon & Pehlevan,
"Learning curves for SGD on structured features", ICLR 2022 (arXiv 2106.02713);
Paquette, Lee, Pedregosa, Paquette, "SGD in the large", arXiv 2102.04396.

Risk: $\tfrac12 E[(f - f^*)^2] = \tfrac12\sum_i \lambda_i E[e_i^2]$, $e = \theta - \theta^*$.
"""

from __future__ import annotations

import math

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array

from . import spectra
from ._checks import check_range, check_vector, is_concrete
from ._config import Table
from ._curve import Curve
from ._predict import Horizon, predict_family
from ._problem import AbstractProblem
from ._record import divergence_threshold, record_steps, record_times, scan_with_records
from .optim import SGD

METHODS = ("recursion", "ode")


class ModeMoments(eqx.Module):
    r"""Per-eigendirection second moments of the error, $a_i = E[(\theta - \theta^*)_i^2]$."""

    a: Array


class LinearRegression(AbstractProblem):
    r"""Linear regression on Gaussian data with covariance eigenvalues `spectrum`.

    **Arguments:**

    - `spectrum`: eigenvalues $\lambda_i \ge 0$ of $\Sigma$, shape `(d,)`
      (see `theory.spectra`: isotropic, power law, two-bulk, Marchenko–Pastur).
    - `teacher`: target coefficients $\theta^*$ in the eigenbasis, shape `(d,)`; default
      `spectra.flat_teacher(spectrum)` ($E[f^{*2}] = 1$).
    - `noise`: label-noise standard deviation $\sigma \ge 0$.
    - `init`: initial $\theta_0$ in the eigenbasis, shape `(d,)`; default zeros.
    """

    family = "linreg"
    spectrum: Array
    teacher: Array
    noise: Array
    init: Array

    def __init__(self, spectrum, teacher=None, noise=0.0, init=None):
        check_vector("LinearRegression.spectrum", spectrum)
        check_range("LinearRegression.spectrum", spectrum, low=0.0)
        if is_concrete(spectrum) and not np.sum(np.asarray(spectrum, dtype=np.float64)) > 0:
            raise ValueError("LinearRegression.spectrum must have a positive entry (got all zeros)")
        self.spectrum = jnp.asarray(spectrum, dtype=float)
        if teacher is None:
            teacher = spectra.flat_teacher(spectrum)
        self.teacher = jnp.asarray(teacher, dtype=float)
        self.noise = jnp.asarray(noise, dtype=float)
        self.init = jnp.zeros_like(self.spectrum) if init is None else jnp.asarray(init, dtype=float)

    def __check_init__(self):
        d = self.spectrum.shape[0]
        check_vector("LinearRegression.teacher", self.teacher, size=d)
        check_vector("LinearRegression.init", self.init, size=d)
        check_range("LinearRegression.noise", self.noise, low=0.0)

    @classmethod
    def from_covariance(cls, covariance, teacher, noise=0.0, init=None) -> "LinearRegression":
        """The problem for a full covariance matrix and a teacher vector in the input basis
        (e.g. an empirical feature covariance, as in Bordelon & Pehlevan 2022)."""
        covariance = np.asarray(covariance, dtype=np.float64)
        if covariance.ndim != 2 or covariance.shape[0] != covariance.shape[1]:
            raise ValueError(f"covariance must be a square matrix (got shape {covariance.shape})")
        if not np.allclose(covariance, covariance.T, rtol=1e-10, atol=1e-12):
            raise ValueError("covariance must be symmetric")
        eigs, vecs = np.linalg.eigh(covariance)
        if eigs.min() < -1e-10 * max(eigs.max(), 1.0):
            raise ValueError(f"covariance must be positive semi-definite (min eigenvalue {eigs.min():.3g})")
        order = np.argsort(eigs)[::-1]
        eigs, vecs = np.clip(eigs[order], 0.0, None), vecs[:, order]
        rotate = (lambda v: None if v is None else vecs.T @ np.asarray(v, dtype=np.float64))
        return cls(eigs, rotate(teacher), noise, rotate(init))

    @property
    def d(self) -> int:
        return self.spectrum.shape[0]

    def risk(self, a: Array) -> Array:
        r"""$\tfrac12\sum_i\lambda_i a_i$ for per-mode second moments `a`."""
        return 0.5 * (a @ self.spectrum)

    def initial_moments(self) -> ModeMoments:
        return ModeMoments((self.init - self.teacher) ** 2)

    def describe(self) -> str:
        lam = self.spectrum
        return (f"least squares, d={self.d}, λ ∈ [{float(jnp.min(lam)):.3g}, "
                f"{float(jnp.max(lam)):.3g}], σ={float(self.noise):g}")

    def to_config(self) -> dict:
        return {"spectrum": [float(x) for x in self.spectrum],
                "teacher": [float(x) for x in self.teacher],
                "noise": float(self.noise), "init": [float(x) for x in self.init]}

    @classmethod
    def from_config(cls, table: Table) -> "LinearRegression":
        spectrum = _spectrum_from_config(table)
        teacher = _teacher_from_config(table, spectrum)
        noise = table.number("noise", 0.0)
        init = table.numbers("init", None) if table.has("init") else None
        table.finish()
        return cls(spectrum, teacher, noise, init)


def _spectrum_from_config(table: Table) -> np.ndarray:
    value = table.raw("spectrum")
    if isinstance(value, list):
        return np.asarray(table.numbers("spectrum"))
    spec = table.table("spectrum")
    kind = spec.string("kind", tuple(spectra.SPECTRA))
    d = spec.integer("d")
    params = {"power_law": {"alpha": None}, "two_bulk": {"ratio": 10.0, "fraction": 0.5},
              "marchenko_pastur": {"aspect": 0.5}, "isotropic": {}}[kind]
    kwargs = {name: spec.number(name) if default is None else spec.number(name, default)
              for name, default in params.items()}
    spec.finish()
    return spectra.SPECTRA[kind](d, **kwargs)


def _teacher_from_config(table: Table, spectrum) -> np.ndarray | None:
    if not table.has("teacher"):
        return None
    value = table.raw("teacher")
    if isinstance(value, list):
        return np.asarray(table.numbers("teacher"))
    spec = table.table("teacher")
    kind = spec.string("kind", tuple(spectra.TEACHERS))
    kwargs = {"beta": spec.number("beta")} if kind == "power_law" else {}
    spec.finish()
    return spectra.TEACHERS[kind](spectrum, **kwargs)


# ---------------------------------------------------------------- theory


def critical_lr(problem: LinearRegression, batch: int | float = 1) -> Array:
    r"""The largest stable constant η of plain SGD (β = 0), THEORY.md §1.

    With $\gamma = \eta/d$, the map $a \mapsto \mathrm{diag}((1-\gamma\lambda_i)^2 +
    \gamma^2\lambda_i^2/B)\,a + (\gamma^2/B)\lambda\lambda^\top a$ has spectral radius 1 where
    $\sum_i \gamma\lambda_i / (B(2 - \gamma\lambda_i(1 + 1/B))) = 1$, with
    $\gamma\lambda_i(1+1/B) < 2$. The left side increases in γ, so the root is unique
    (found by bisection). Isotropic, B = 1: $\eta_c = 2d/(d+2)$.
    """
    lam = problem.spectrum
    batch = jnp.asarray(batch, dtype=lam.dtype)
    upper = 2.0 / (jnp.max(lam) * (1.0 + 1.0 / batch))

    def excess(u, _):  # u = gamma / upper, in (0, 1)
        g_lam = u * upper * lam
        return jnp.sum(g_lam / (batch * (2.0 - g_lam * (1.0 + 1.0 / batch)))) - 1.0

    solver = optx.Bisection(rtol=1e-13, atol=1e-13)
    sol = optx.root_find(excess, solver, jnp.asarray(0.5, lam.dtype),
                         options={"lower": 0.0, "upper": 1.0 - 1e-15}, max_steps=256)
    return sol.value * upper * problem.d


def steps_for(problem: LinearRegression, optimizer: SGD, horizon: Horizon) -> int:
    """Optimizer iterations of a horizon (t samples/d means ceil(t d / B) steps); needs a
    concrete batch."""
    if horizon.steps is not None:
        return horizon.steps
    batch = optimizer.static_batch()
    return max(1, math.ceil(horizon.t * problem.d / batch))


def _make_curve(problem, optimizer, steps_rec, risk, state, diverged, dstep, method) -> Curve:
    batch = optimizer.batch
    t = jnp.asarray(steps_rec) * batch / problem.d
    return Curve(step=jnp.asarray(steps_rec), t=t, risk=risk, state=state, diverged=diverged,
                 diverged_step=dstep, problem=problem, optimizer=optimizer,
                 metadata={"family": "linreg", "method": method, "d": problem.d})


def _recursion(problem: LinearRegression, optimizer: SGD, num_steps: int, rec, active,
               init: ModeMoments, save_state: bool):
    lam, d = problem.spectrum, problem.d
    batch = jnp.asarray(optimizer.batch, dtype=lam.dtype)
    beta = optimizer.checked_momentum()
    noise_var = problem.noise**2

    def step(carry, k):
        a, b, c = carry
        gamma = optimizer.lr_at(k * batch / d) / d
        p = 1.0 + beta - gamma * lam
        s = jnp.sum(lam * a)
        a_next = (p**2 * a - 2.0 * beta * p * b + beta**2 * c
                  + (gamma**2 / batch) * (lam**2 * a + lam * s + noise_var * lam))
        b_next = p * a - beta * b
        return a_next, b_next, a

    def observe(carry):
        a = carry[0]
        return problem.risk(a), (ModeMoments(a) if save_state else None)

    a0 = init.a
    threshold = divergence_threshold(problem.risk(a0), jnp.maximum(1.0, noise_var))
    return scan_with_records(step, observe, (a0, a0, a0), num_steps, jnp.asarray(rec), threshold,
                             active_steps=active)


def _ode(problem: LinearRegression, optimizer: SGD, rec, init: ModeMoments, save_state: bool,
         rtol: float, atol: float, max_steps: int):
    r"""High-d limit in w units, $\tilde a_i = d\,a_i$, $R = \frac{1}{2d}\sum_j\lambda_j\tilde a_j$:
    $d\tilde a_i/dt = -(2\eta'/B)\lambda_i\tilde a_i + (\eta'^2/B^2)\lambda_i(2R + \sigma^2)$,
    $\eta' = \eta(t)/(1-\beta)$ (heavy ball with a vanishing step moves like plain SGD with
    step $\gamma/(1-\beta)$, in the drift and the noise alike)."""
    lam, d = problem.spectrum, problem.d
    batch = jnp.asarray(optimizer.batch, dtype=lam.dtype)
    beta = optimizer.checked_momentum()
    noise_var = problem.noise**2
    ts = jnp.asarray(rec) * batch / d
    a0 = init.a * d
    threshold = divergence_threshold(problem.risk(a0) / d, jnp.maximum(1.0, noise_var))

    def field(t, a, args):
        eta = optimizer.lr_at(t) / (1.0 - beta)
        risk = jnp.sum(lam * a) / (2 * d)
        return -(2 * eta / batch) * lam * a + (eta / batch) ** 2 * lam * (2 * risk + noise_var)

    def blew_up(t, a, args, **kwargs):
        risk = jnp.sum(lam * a) / (2 * d)
        return ~jnp.isfinite(risk) | (risk > threshold)

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field), diffrax.Tsit5(), t0=0.0, t1=ts[-1], dt0=None, y0=a0,
        saveat=diffrax.SaveAt(ts=ts), stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        event=diffrax.Event(blew_up), max_steps=max_steps, throw=False)
    ok = (sol.result == diffrax.RESULTS.successful) | (sol.result == diffrax.RESULTS.event_occurred)
    a_t = eqx.error_if(sol.ys, ~ok, "linreg ODE solver failed (raise max_steps, or loosen rtol/atol)")
    a_t = a_t / d
    risk = problem.risk(a_t)
    bad = ~jnp.isfinite(risk) | (risk > threshold)
    diverged = jnp.any(bad)
    first = jnp.argmax(bad)
    risk = jnp.where(jnp.arange(risk.shape[0]) >= jnp.where(diverged, first, risk.shape[0]), jnp.inf, risk)
    dstep = jnp.where(diverged, jnp.asarray(rec)[first], -1)
    state = ModeMoments(jnp.where(jnp.isfinite(a_t), a_t, 0.0)) if save_state else None
    return risk, state, diverged, dstep


@predict_family.register
def _predict_linreg(problem: LinearRegression, optimizer, horizon: Horizon, *,
                    init: ModeMoments | None = None, method: str = "recursion",
                    save_state: bool = True, rtol: float = 1e-8, atol: float = 1e-12,
                    max_steps: int = 1_000_000) -> Curve:
    """Options: `method` "recursion" (exact at finite d, THEORY.md §1) or "ode" (the high-d
    limit, integrated with diffrax); `init` per-mode moments (default: from `problem.init`);
    `save_state` records the per-mode moments; `rtol`, `atol`, `max_steps` for the ODE."""
    if not isinstance(optimizer, SGD):
        raise TypeError(f"least squares supports SGD (got {type(optimizer).__name__})")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)} (got {method!r})")
    init = problem.initial_moments() if init is None else init
    if horizon.t is not None and not is_concrete(optimizer.batch):
        # A traced batch (vmap over batch sizes at a fixed sample budget): every element
        # runs ceil(t d) steps (B >= 1 needs no more) and stops after its own t d / B.
        num_steps = math.ceil(horizon.t * problem.d)
        t_grid = jnp.asarray(record_times(horizon.t, horizon.num_points, horizon.spacing))
        rec = jnp.round(t_grid * problem.d / optimizer.batch).astype(jnp.int32)
        active = rec[-1]
    else:
        num_steps = steps_for(problem, optimizer, horizon)
        rec, active = record_steps(num_steps, horizon.num_points, horizon.spacing), None
    risk, state, diverged, dstep = _solve(problem, optimizer, num_steps, rec, active, init,
                                          save_state, method, rtol, atol, max_steps)
    return _make_curve(problem, optimizer, rec, risk, state, diverged, dstep, method)


@eqx.filter_jit
def _solve(problem, optimizer, num_steps, rec, active, init, save_state, method, rtol, atol,
           max_steps):
    if method == "recursion":
        out = _recursion(problem, optimizer, num_steps, rec, active, init, save_state)
        return out.risk, out.observed, out.diverged, out.diverged_step
    return _ode(problem, optimizer, rec, init, save_state, rtol, atol, max_steps)


__all__ = ["LinearRegression", "ModeMoments", "critical_lr", "steps_for", "METHODS"]
