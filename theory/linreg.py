r"""Least squares with online mini-batch SGD: the exact finite-d recursion and its high-d ODE.

Data $x \sim N(0, \Sigma)$, $\Sigma = \mathrm{diag}(\lambda)$ (any PSD $\Sigma$ reduces to this in
its eigenbasis), target $y = \theta^*\cdot x + \sigma\xi$, model $f = \theta\cdot x$ with
$\theta = w/\sqrt d$ (pre-activation $w\cdot x/\sqrt d$). `SGD(lr=η, batch=B, momentum=β)`
takes the per-step size $\gamma = \eta/d$ in θ units, so η is O(1): the critical η of
isotropic data is $2d/(d+2) \to 2$. Time $t = kB/d$. docs/theory.md, Least squares;
Bordelon & Pehlevan,
"Learning curves for SGD on structured features", ICLR 2022 (arXiv 2106.02713);
Paquette, Lee, Pedregosa, Paquette, "SGD in the large", arXiv 2102.04396.

Risk: $\tfrac12 E[(f - f^*)^2] = \tfrac12\sum_i \lambda_i E[e_i^2]$, $e = \theta - \theta^*$.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array

from . import _linear_methods as lm
from . import _limit_laplace, _volterra, spectra
from ._family import ODE, AbstractProblem, BenchCase, Closed, Observation, Recursion
from ._theories import register_theory, theory_for
from .checks import check_range, check_vector, is_concrete
from .fields import Number, Numbers
from .accelerated import ASGD, Averaged, Nesterov
from .adaptive import AdaptiveSGD
from .optim import SGD

LINEAR_METHODS = (SGD, Nesterov, ASGD)
"""Optimizers with an exact block recursion here; `Averaged` takes any of them as its base."""


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
    - `rotated`: set by `from_covariance` for a non-diagonal covariance: the problem is then
      stated in the covariance's eigenbasis, not in its input coordinates, which only
      rotation-invariant optimizers do not notice (simulations refuse the others).

    Methods: "exact" (the finite-d recursion, every optimizer below), "limit" (the high-d
    ODE: SGD, Nesterov), "volterra" (the exact recursion of constant-rate plain SGD at any
    step count, by Talbot inversion).
    """

    family = "linreg"
    observable_labels = {"lr": "learning rate η_k"}
    methods = {"exact": "recursion", "limit": "ode", "volterra": "closed"}
    ode_tolerances = (1e-8, 1e-12, 1_000_000)
    config_fields = {"spectrum": spectra.Spectrum(), "teacher": spectra.Teacher(),
                     "noise": Number(), "init": Numbers(), "rotated": None}
    spectrum: Array
    teacher: Array
    noise: Array
    init: Array
    rotated: bool = eqx.field(static=True)

    def __init__(self, spectrum, teacher=None, noise=0.0, init=None, *, rotated: bool = False):
        if is_concrete(spectrum):
            spectra.check_spectrum("LinearRegression.spectrum", spectrum)
        self.spectrum = jnp.asarray(spectrum, dtype=float)
        if teacher is None:
            teacher = spectra.flat_teacher(spectrum)
        self.teacher = jnp.asarray(teacher, dtype=float)
        self.noise = jnp.asarray(noise, dtype=float)
        self.init = jnp.zeros_like(self.spectrum) if init is None else jnp.asarray(init, dtype=float)
        self.rotated = bool(rotated)

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
        diagonal = np.allclose(covariance, np.diag(np.diag(covariance)), rtol=0.0, atol=0.0)
        return cls(eigs, rotate(teacher), noise, rotate(init), rotated=not diagonal)

    @property
    def d(self) -> int:
        """The dimension d (length of the spectrum)."""
        return self.spectrum.shape[0]

    def risk(self, a: Array) -> Array:
        r"""$\tfrac12\sum_i\lambda_i a_i$ for per-mode second moments `a`."""
        return 0.5 * (a @ self.spectrum)

    def initial_state(self, init=None) -> ModeMoments:
        """Per-mode moments at t = 0: `init` (a `ModeMoments` or a length-d sequence of
        $E[e_i^2]$), or those of `problem.init`."""
        if init is None:
            return ModeMoments((self.init - self.teacher) ** 2)
        a = init.a if isinstance(init, ModeMoments) else init
        check_vector("init.a", a, size=self.d)
        check_range("init.a", a, low=0.0)
        return ModeMoments(jnp.asarray(a, dtype=float))

    def divergence_floor(self) -> Array:
        return jnp.maximum(1.0, self.noise**2)

    def parameter_groups(self) -> tuple[str, ...]:
        return ("weights",)

    def stability_limit(self, optimizer, method: str | None = None) -> Array | None:
        """The largest stable constant lr at the optimizer's other settings under `method`
        (default the optimizer's first): "exact"/"volterra", the finite-d recursion's
        (`critical_lr` for plain SGD, `critical_rate` for momentum, Nesterov and ASGD);
        "limit", the high-d ODE's $2B(1-\\beta)d/\\sum_i\\lambda_i$. None for a schedule
        (but plain SGD's), traced settings, averaging or adaptive rates."""
        method = theory_for(self, optimizer, method, check=False)[1]
        if isinstance(optimizer, (Averaged, AdaptiveSGD)) or not all(
                is_concrete(x) for x in jax.tree.leaves(eqx.filter(optimizer, eqx.is_array))):
            return None
        if method == "limit":
            return ode_critical_lr(self, optimizer.batch, optimizer.checked_momentum())
        if isinstance(optimizer, SGD) and float(optimizer.momentum) == 0.0:
            return critical_lr(self, optimizer.batch)
        if callable(optimizer.lr) or (isinstance(optimizer, SGD) and optimizer.group_lr):
            return None
        return jnp.asarray(critical_rate(self, optimizer))

    @classmethod
    def bench_case(cls, quick: bool = False) -> BenchCase:
        """Power-law spectrum (α = 1.5, source β = 1.2, σ = 0.1), η = η_c/2, B = 1, 1e5 samples
        at d = 1000 with 32 seeds (quick: 1e4 at d = 200, 8 seeds); the sweep over
        η ∈ [0.05, 1] η_c runs a tenth of the horizon."""
        d, seeds, samples, points = (200, 8, 10_000, 100) if quick else (1000, 32, 100_000, 1000)
        spec = spectra.power_law(d, 1.5)
        problem = cls(spec, spectra.power_law_teacher(spec, 1.2), noise=0.1)
        eta_c = float(critical_lr(problem, 1))
        return BenchCase(problem, SGD(0.5 * eta_c), {"t": samples / d, "num_points": 200},
                         {"seeds": seeds, "save_state": False}, "lr",
                         jnp.linspace(0.05, 1.0, points) * eta_c,
                         {"t": samples / d / 10, "num_points": 50},
                         work_per_curve=("mode updates", d * samples / 10))

    def describe(self) -> str:
        lam = self.spectrum
        return (f"least squares, d={self.d}, λ ∈ [{float(jnp.min(lam)):.3g}, "
                f"{float(jnp.max(lam)):.3g}], σ={float(self.noise):g}")


# ---------------------------------------------------------------- theory


def _check_volterra(problem, optimizer, method: str) -> None:
    """Method "volterra" covers plain SGD (momentum 0) at a constant rate."""
    if method == "volterra":
        _volterra.check_plain_sgd(optimizer, "exact")


@register_theory(LinearRegression, SGD, check=_check_volterra)
def sgd_theory(problem: LinearRegression, optimizer: SGD, state: ModeMoments, method: str):
    """SGD with momentum and schedules: "exact" (the second-moment recursion), "limit"
    (its high-d ODE), "volterra" (constant-rate plain SGD at any step count)."""
    if method == "volterra":
        return closed_form(problem, optimizer, state)
    if method == "limit":
        return _ode(problem, optimizer, state)
    return _recursion(problem, optimizer, state)


@register_theory(LinearRegression, Nesterov, methods=("exact", "limit"))
def nesterov_theory(problem: LinearRegression, optimizer: Nesterov, state: ModeMoments, method: str):
    """Nesterov momentum: the per-mode block recursion, or the high-d ODE (which moves like
    SGD at η/(1-β))."""
    if method == "limit":
        return _ode(problem, optimizer, state)
    return _block_recursion(problem, optimizer, state)


@register_theory(LinearRegression, ASGD, methods=("exact",))
def asgd_theory(problem: LinearRegression, optimizer: ASGD, state: ModeMoments, method: str):
    """Accelerated SGD (Jain et al.): the per-mode block recursion."""
    return _block_recursion(problem, optimizer, state)


def _check_averaged_base(problem, optimizer: Averaged, method: str) -> None:
    if not isinstance(optimizer.base, LINEAR_METHODS):
        raise TypeError(f"LinearRegression (linreg) averages "
                        f"{' or '.join(c.__name__ for c in LINEAR_METHODS)} "
                        f"(got Averaged.base = {type(optimizer.base).__name__})")


@register_theory(LinearRegression, Averaged, methods=("exact",), check=_check_averaged_base)
def averaged_theory(problem: LinearRegression, optimizer: Averaged, state: ModeMoments, method: str):
    """Iterate averaging of a linear method: its block recursion with the running mean."""
    return _block_recursion(problem, optimizer, state)


@register_theory(LinearRegression, AdaptiveSGD, methods=("exact",))
def adaptive_theory(problem: LinearRegression, optimizer: AdaptiveSGD, state: ModeMoments,
                    method: str):
    """Adaptive rates: the SGD recursion at the rate's deterministic high-d value."""
    return _adaptive_recursion(problem, optimizer, state)


def critical_lr(problem, batch: int | float = 1, method: str | None = None) -> Array:
    r"""The largest stable constant η of plain SGD (β = 0) at batch `batch` under the theory
    `method` of `problem`'s family (default its first method for SGD): for least squares'
    exact recursion the formula below; for any other problem or method the family's own
    `stability_limit` (the `Tunable` protocol), e.g. the exact recursion's spectral radius for
    `DataSetRegression`. A family or method without a formula raises TypeError.

    Least squares, exact: with $\gamma = \eta/d$, the map $a \mapsto
    \mathrm{diag}((1-\gamma\lambda_i)^2 + \gamma^2\lambda_i^2/B)\,a +
    (\gamma^2/B)\lambda\lambda^\top a$ has spectral radius 1 where $\sum_i \gamma\lambda_i /
    (B(2 - \gamma\lambda_i(1 + 1/B))) = 1$, with $\gamma\lambda_i(1+1/B) < 2$. The left side
    increases in γ, so the root is unique (found by bisection). Isotropic, B = 1:
    $\eta_c = 2d/(d+2)$ (docs/theory.md, Least squares).
    """
    check_range("critical_lr: batch", batch, low=1.0)
    if isinstance(problem, LinearRegression) and method in (None, "exact", "volterra"):
        return _exact_critical_lr(problem.spectrum, batch)
    from .stability import stability_limit  # the generic route, for every family

    limit = stability_limit(problem, SGD(1.0, batch=batch), method)
    if limit is None:
        raise TypeError(f"critical_lr: {type(problem).__name__} ({problem.family}) has no "
                        f"stability formula for plain SGD under method "
                        f"{method or 'default'!r} (its stability_limit gives None)")
    return jnp.asarray(limit)


def _exact_critical_lr(lam: Array, batch) -> Array:
    """`critical_lr` of least squares' exact recursion (jit-friendly bisection)."""
    batch = jnp.asarray(batch, dtype=lam.dtype)
    upper = 2.0 / (jnp.max(lam) * (1.0 + 1.0 / batch))

    def excess(u, _):  # u = gamma / upper, in (0, 1)
        return _volterra.noise_gain(u * upper * lam, batch) - 1.0

    solver = optx.Bisection(rtol=1e-13, atol=1e-13)
    sol = optx.root_find(excess, solver, jnp.asarray(0.5, lam.dtype),
                         options={"lower": 0.0, "upper": 1.0 - 1e-15}, max_steps=256,
                         throw=False)  # a root against the pole at u = 1 (B >> d): |f| stays
    return sol.value * upper * lam.shape[0]  # large, but the bracket has shrunk to rounding


def ode_critical_lr(problem: LinearRegression, batch=1, momentum=0.0) -> Array:
    r"""The largest stable constant η of the high-d ODE (method "limit"): its linear part
    $-(2\eta'/B)\Lambda + (\eta'^2/(B^2 d))\lambda\lambda^\top$, $\eta' = \eta/(1-\beta)$, has
    a zero eigenvalue where $\eta'\sum_i\lambda_i/(2Bd) = 1$ (docs/theory.md, Least squares)."""
    lam = problem.spectrum
    return 2.0 * jnp.asarray(batch, lam.dtype) * (1.0 - momentum) * problem.d / jnp.sum(lam)


def closed_form(problem: LinearRegression, optimizer: SGD, state: ModeMoments,
                other_method: str = "exact") -> Closed:
    """The exact recursion of plain SGD at a constant rate, at any step count without
    stepping (`theory._volterra`; docs/theory.md, Least squares); an unstable rate gives
    inf past the first `DIRECT_STEPS` steps (the driver marks the divergence there)."""
    lam = problem.spectrum
    lr = eqx.error_if(optimizer.lr, optimizer.momentum != 0,
                      f"method 'volterra' covers SGD without momentum; use method '{other_method}'")
    batch, gamma = jnp.asarray(optimizer.batch, lam.dtype), lr / problem.d
    ok = _volterra.stable(lam, gamma, batch)

    def at(steps):
        s = _volterra.excess_at_steps(lam, state.a, problem.noise**2, gamma, batch, steps)
        return Observation(0.5 * jnp.where(ok | (steps < _volterra.DIRECT_STEPS), s, jnp.inf), {}, None)

    return Closed(at, problem.divergence_floor(), "exact recursion at any step, by Talbot inversion")


def _recursion(problem: LinearRegression, optimizer: SGD, state: ModeMoments) -> Recursion:
    r"""docs/theory.md, Least squares: with $p_i = 1 + \beta - \gamma\lambda_i$ and
    $S = \sum_j\lambda_j a_j$, $a_i' = p_i^2 a_i - 2\beta p_i b_i + \beta^2 c_i +
    (\gamma^2/B)(\lambda_i^2 a_i + \lambda_i S + \sigma^2\lambda_i)$, $b_i' = p_i a_i -
    \beta b_i$, $c_i' = a_i$, $\gamma = \eta(t_k)/d$."""
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
        return Observation(problem.risk(a), {}, ModeMoments(a))

    a0 = state.a
    return Recursion((a0, a0, a0), step, observe, problem.divergence_floor(), "exact recursion")


def linear_method(problem: LinearRegression, optimizer, k) -> lm.LinearMethod:
    """The optimizer's step k as a linear method (`theory._linear_methods`), rates over d."""
    d = problem.d
    batch = jnp.asarray(optimizer.batch, dtype=problem.spectrum.dtype)
    if isinstance(optimizer, Averaged):
        base = linear_method(problem, optimizer.base, k)
        return lm.averaged(base, optimizer.weight(k, problem.clock(optimizer)))
    rate = optimizer.lr_at(k * batch / d) / d
    if isinstance(optimizer, SGD):
        return lm.sgd(rate, optimizer.checked_momentum())
    if isinstance(optimizer, Nesterov):
        return lm.nesterov(rate, optimizer.checked_momentum())
    long_lr, alpha, beta = optimizer.checked_params()
    return lm.asgd(rate, long_lr / d, alpha, beta)


def critical_rate(problem: LinearRegression, optimizer) -> float:
    """The largest stable constant `lr` with the optimizer's other fields fixed (bisection
    on `theory._linear_methods.stability_gain`, from the first unstable doubling of lr)."""
    def stable(lr):
        method = linear_method(problem, eqx.tree_at(lambda o: o.lr, optimizer, jnp.asarray(lr)), 0)
        return lm.stability_gain(method, problem.spectrum, float(optimizer.batch)) < 1.0

    low, high = 0.0, 1.0
    while stable(high):
        low, high = high, 2.0 * high
        if high > 1e8:
            return np.inf
    for _ in range(50):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if stable(mid) else (low, mid)
    return low


def _block_recursion(problem: LinearRegression, optimizer, state: ModeMoments) -> Recursion:
    """docs/theory.md, Least squares: more optimizers: the per-mode block moments."""
    lam = problem.spectrum
    batch = jnp.asarray(optimizer.batch, dtype=lam.dtype)
    noise_var = problem.noise**2
    output = linear_method(problem, optimizer, 0)

    def step(M, k):
        return lm.step(M, linear_method(problem, optimizer, k), lam, batch, noise_var)

    def observe(M):
        a = lm.recorded(M, output)
        return Observation(problem.risk(a), {}, ModeMoments(a))

    return Recursion(lm.initial_moments(output, state.a), step, observe,
                     problem.divergence_floor(), "exact recursion")


def adaptive_rate(problem: LinearRegression, optimizer: AdaptiveSGD, a: Array, acc: Array):
    r"""(rate, new accumulator) of an adaptive rule at per-mode moments `a`: its
    high-dimensional deterministic value (docs/theory.md, Least squares: adaptive rates),
    with $S_p = \sum_i\lambda_i^p a_i$, $T_p = \sum_i\lambda_i^p$ and
    $E\|G\|^2 = (1 + 1/B)S_2 + (T_1/B)(S_1 + \sigma^2)$."""
    lam, d = problem.spectrum, problem.d
    batch = jnp.asarray(optimizer.batch, dtype=lam.dtype)
    noise_var = problem.noise**2
    eta = optimizer.checked_lr()
    s1, s2, s3 = (jnp.sum(lam**p * a) for p in (1, 2, 3))
    grad2 = (1 + 1 / batch) * s2 + jnp.sum(lam) / batch * (s1 + noise_var)
    if optimizer.rule == "adagrad_norm":
        acc = acc + batch * grad2 / d**2
        return eta / jnp.sqrt(acc), acc
    if optimizer.rule == "line_search":
        curvature = (1 + 1 / batch) * s3 + jnp.sum(lam**2) / batch * (s1 + noise_var)
        return eta * d * s2 / curvature, acc
    return eta * d * 0.5 * (s1 + noise_var) / grad2, acc


def _adaptive_recursion(problem: LinearRegression, optimizer: AdaptiveSGD,
                        state: ModeMoments) -> Recursion:
    """The SGD recursion of `_recursion` (β = 0) at the deterministic rate `adaptive_rate`."""
    lam, d = problem.spectrum, problem.d
    batch = jnp.asarray(optimizer.batch, dtype=lam.dtype)
    noise_var = problem.noise**2

    def step(carry, k):
        a, acc, _ = carry
        rate, acc = adaptive_rate(problem, optimizer, a, acc)
        gamma = rate / d
        a = ((1 - gamma * lam) ** 2 * a
             + (gamma**2 / batch) * (lam**2 * a + lam * jnp.sum(lam * a) + noise_var * lam))
        return a, acc, rate

    def observe(carry):
        a, _, rate = carry
        return Observation(problem.risk(a), {"lr": rate}, ModeMoments(a))

    init = (state.a, optimizer.b0**2 * jnp.ones_like(lam[0]), optimizer.initial_rate())
    return Recursion(init, step, observe, problem.divergence_floor(), "deterministic rate")


def _ode(problem: LinearRegression, optimizer: SGD, state: ModeMoments) -> ODE:
    r"""High-d limit in w units, $\tilde a_i = d\,a_i$, $R = \frac{1}{2d}\sum_j\lambda_j\tilde a_j$:
    $d\tilde a_i/dt = -(2\eta'/B)\lambda_i\tilde a_i + (\eta'^2/B^2)\lambda_i(2R + \sigma^2)$,
    $\eta' = \eta(t)/(1-\beta)$ (heavy ball with a vanishing step moves like plain SGD with
    step $\gamma/(1-\beta)$, in the drift and the noise alike). At a constant rate it is
    solved in closed form (`_ode_closed`); a schedule integrates it with diffrax."""
    if not callable(optimizer.lr):
        return _ode_closed(problem, optimizer, state)
    lam, d = problem.spectrum, problem.d
    batch = jnp.asarray(optimizer.batch, dtype=lam.dtype)
    beta = optimizer.checked_momentum()
    noise_var = problem.noise**2

    def field(t, a, args):
        eta = optimizer.lr_at(t) / (1.0 - beta)
        risk = jnp.sum(lam * a) / (2 * d)
        return -(2 * eta / batch) * lam * a + (eta / batch) ** 2 * lam * (2 * risk + noise_var)

    def observe(a):
        a = a / d
        return Observation(problem.risk(a), {}, ModeMoments(a))

    return ODE(state.a * d, field, observe, problem.divergence_floor(), "high-d ODE")


def _ode_closed(problem: LinearRegression, optimizer, state: ModeMoments) -> Closed:
    """`_ode` at a constant rate, solved by Laplace transform at the record times
    (`theory._limit_laplace`: no time stepping, so no stiffness); the same equations."""
    lam, d = problem.spectrum, problem.d
    batch = jnp.asarray(optimizer.batch, dtype=lam.dtype)
    eta = optimizer.lr_at(0.0) / (1.0 - optimizer.checked_momentum())
    alpha, kappa = 2.0 * eta / batch, (eta / batch) ** 2

    def at(steps):
        times = jnp.asarray(steps, lam.dtype) * batch / d
        s, a = _limit_laplace.modes_at_times(lam, state.a * d, problem.noise**2, alpha, kappa,
                                             times)
        return Observation(0.5 * s, {}, ModeMoments(a / d))

    return Closed(at, problem.divergence_floor(), "high-d ODE (Laplace transform)")


__all__ = ["LinearRegression", "ModeMoments", "critical_lr", "critical_rate", "linear_method",
           "ode_critical_lr"]
