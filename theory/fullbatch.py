r"""Full-batch gradient descent on a fixed training set: train and test risk curves.

A data set of n samples $x_\mu \sim N(0, \Sigma)$, $\Sigma = \mathrm{diag}(\lambda)$ (tr Σ = d),
labels $y_\mu = \theta^*\cdot x_\mu + \sigma\xi_\mu$, is drawn once; GD on the ridge objective
$\hat L(\theta) = \frac{1}{2n}\|X\theta - y\|^2 + \frac{\rho}{2}\|\theta\|^2$ runs for many
passes: $\theta_{k+1} = \theta_k - \eta\nabla\hat L(\theta_k)$ (+ heavy ball). η is O(1)
(stable for $\eta < 2/(s_{max} + \rho)$, $s_{max} \le \lambda_{max}(1 + \sqrt{d/n})^2$); time
$t = k n / d$ (samples processed / d). docs/theory.md, Full-batch GD.

Both methods are closed in the eigenbasis of the empirical covariance $\hat\Sigma = X^\top X/n$:
each mode s follows the scalar recursion of its error, so the weights after k steps are
$\theta_k - \theta^* = \phi_k(\hat\Sigma)e_0 - \rho\psi_k(\hat\Sigma)\theta^* +
\psi_k(\hat\Sigma)X^\top\sigma\xi/n$ with polynomials $\phi_k, \psi_k$.

- "limit": n, d → ∞ at α = n/d; the deterministic equivalent of $(\hat\Sigma - z)^{-1}$
  (Marchenko–Pastur for isotropic Σ) with the two-resolvent equivalent for the test risk, the
  polynomials integrated on a contour around the spectrum. Predicts the mean (and, by
  concentration, the typical) train and test risk.
- "exact": the exact curve of each of `datasets` data sets (the ones `simulate` draws with
  key `seed`), averaged over the label noise in closed form; the Curve is their mean.

The Curve's risk is the test (population) risk $\tfrac12 E_x[(f - f^*)^2]$; the observable
"train" is $\frac{1}{2n}\|X\theta - y\|^2$ (label noise included).
"""

from __future__ import annotations

import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
from jaxtyping import Array

from . import spectra
from ._family import AbstractProblem, Observation, Recursion, StepClock
from ._theories import register_theory, theory_for
from .checks import check_integer, check_range, check_vector, is_concrete
from .fields import Integer, Number, Numbers, Table, read_fields
from .optim import SGD


class FullBatchRegression(AbstractProblem):
    r"""Least squares on a fixed training set of n Gaussian samples, trained by full-batch GD.

    **Arguments:**

    - `spectrum`: eigenvalues $\lambda_i \ge 0$ of the input covariance, shape `(d,)`.
    - `samples`: the training-set size n (integer >= 2); α = n/d.
    - `teacher`: target coefficients $\theta^*$ in the eigenbasis (default flat, $E[f^{*2}] = 1$).
    - `noise`: label-noise standard deviation $\sigma \ge 0$.
    - `ridge`: the ridge penalty $\rho \ge 0$ of the training objective.
    - `init`: initial $\theta_0$ in the eigenbasis (default zeros).

    The optimizer is `SGD(lr, momentum=...)` with `batch` left at 1 or set to n: every step
    uses the whole training set.
    """

    family = "fullbatch"
    methods: ClassVar[dict[str, str]] = {"limit": "recursion", "exact": "recursion"}
    config_fields = {"spectrum": spectra.Spectrum(), "samples": Integer(), "teacher": spectra.Teacher(),
                     "noise": Number(), "ridge": Number(), "init": Numbers()}
    theory_options: ClassVar[dict] = {"datasets": 16, "seed": 0, "contour_points": 384}
    observable_labels: ClassVar[dict[str, str]] = {
        "train": r"train risk  $\frac{1}{2n}\|X\theta - y\|^2$"
    }
    spectrum: Array
    teacher: Array
    noise: Array
    ridge: Array
    init: Array
    samples: int = eqx.field(static=True)

    def __init__(
        self, spectrum, samples, teacher=None, noise=0.0, ridge=0.0, init=None
    ):
        check_vector("FullBatchRegression.spectrum", spectrum)
        check_range("FullBatchRegression.spectrum", spectrum, low=0.0)
        if not np.sum(np.asarray(spectrum, dtype=np.float64)) > 0:
            raise ValueError(
                "FullBatchRegression.spectrum must have a positive entry (got all zeros)"
            )
        check_integer("FullBatchRegression.samples", samples, low=2)
        self.spectrum = jnp.asarray(spectrum, dtype=float)
        self.samples = int(samples)
        self.teacher = jnp.asarray(
            spectra.flat_teacher(spectrum) if teacher is None else teacher, dtype=float
        )
        self.noise = jnp.asarray(noise, dtype=float)
        self.ridge = jnp.asarray(ridge, dtype=float)
        self.init = (
            jnp.zeros_like(self.spectrum)
            if init is None
            else jnp.asarray(init, dtype=float)
        )

    def __check_init__(self):
        d = self.spectrum.shape[0]
        check_vector("FullBatchRegression.teacher", self.teacher, size=d)
        check_vector("FullBatchRegression.init", self.init, size=d)
        check_range("FullBatchRegression.noise", self.noise, low=0.0)
        check_range("FullBatchRegression.ridge", self.ridge, low=0.0)

    @property
    def d(self) -> int:
        """The dimension d (length of the spectrum)."""
        return self.spectrum.shape[0]

    @property
    def alpha(self) -> float:
        """α = n/d, samples per dimension."""
        return self.samples / self.d

    def initial_state(self, init=None) -> Array:
        r"""The initial error $e_0 = \theta_0 - \theta^*$ (from `init`, a θ_0 of length d)."""
        theta0 = self.init if init is None else init
        check_vector("init", theta0, size=self.d)
        return jnp.asarray(theta0, dtype=float) - self.teacher

    def clock(self, optimizer: SGD) -> StepClock:
        if is_concrete(optimizer.batch) and int(optimizer.batch) not in (
            1,
            self.samples,
        ):
            raise ValueError(
                f"SGD.batch: full-batch GD uses all FullBatchRegression.samples = "
                f"{self.samples} every step (leave batch at 1 or set it to n; "
                f"got {int(optimizer.batch)})"
            )
        return StepClock(self.samples, self.d, "FullBatchRegression.samples")

    def divergence_floor(self) -> Array:
        return jnp.maximum(1.0, self.noise**2)

    def parameter_groups(self) -> tuple[str, ...]:
        return ("weights",)

    def stability_limit(self, optimizer: SGD, method: str | None = None, datasets: int = 16,
                        seed: int = 0, **_) -> Array | None:
        r"""$2(1+\beta)/(s_{max} + \rho)$, each mode's heavy-ball bound, at the top $s_{max}$ of
        the spectrum the method sees: "limit", the upper edge of the deterministic equivalent's
        spectrum (`spectrum_edge`; $\lambda(1 + \sqrt{d/n})^2$ for a flat Σ); "exact", the
        largest eigenvalue of the `datasets` data sets drawn with `seed` (one diverging data
        set makes their mean diverge)."""
        method = theory_for(self, optimizer, method, check=False)[1]
        if method == "limit":
            s_max = spectrum_edge(self.spectrum, self.samples)
        else:
            s_max = jnp.max(_dataset_modes(self, self.initial_state(), datasets, seed).s)
        return 2.0 * (1.0 + optimizer.momentum) / (s_max + self.ridge)

    def describe(self) -> str:
        return (
            f"full-batch GD, d={self.d}, n={self.samples} (α={self.alpha:.3g}), "
            f"σ={float(self.noise):g}, ridge={float(self.ridge):g}"
        )

    def metadata(self) -> dict:
        out = {"samples": self.samples, "alpha": self.alpha}
        if is_concrete(self.ridge):  # numpy: a traced ridge (jit, vmap, grad) is left out
            out["ridge"] = float(np.asarray(self.ridge))
        return out

    @classmethod
    def from_config(cls, table: Table) -> FullBatchRegression:
        """The constructor's fields, with `alpha` = n/d in place of `samples` if given."""
        given = samples_from_alpha(cls, table, low=2)
        if given is None:
            return super().from_config(table)
        return cls(**read_fields(cls, table, cls.config_fields, **given))


def samples_from_alpha(cls, table: Table, low: int) -> dict | None:
    """For a family stated by `samples` (n) or `alpha` (n/d): None when `samples` is given,
    else the spectrum and the n = round(α d) to construct with."""
    if table.has("samples") == table.has("alpha"):
        table.fail("samples", f"give exactly one of samples (n, an integer >= {low}) or alpha "
                              "(n/d > 0)")
    if table.has("samples"):
        return None
    alpha = table.number("alpha")
    if not alpha > 0:
        table.fail("alpha", f"must be > 0 (got {alpha:g})")
    spectrum = cls.config_fields["spectrum"].read(table, "spectrum", {})
    return {"spectrum": spectrum, "samples": max(1, round(alpha * len(spectrum)))}


# ---------------------------------------------------------------- shared by both methods


def limit_accurate_lr(problem: FullBatchRegression, momentum: float = 0.0) -> float:
    r"""The largest constant lr at which the "limit" method's heavy-ball polynomials stay
    bounded on its sector contour (radius 1.1 × the λ_max(1 + √(d/n))² bound, half-opening
    `CONTOUR_ANGLE`): the companion roots of $r^2 - p(z)r + \beta$, $p = 1 + \beta -
    \eta(z + \rho)$, inside the unit disk. Beyond it the contour integral loses its
    precision (a false divergence) while GD may still be stable; β = 0, ρ = 0: $\eta R \le
    2\cos\theta_0$, about 0.8 × the stability limit. Returns `LIMIT_MARGIN` × that rate."""
    radius = float(jnp.max(problem.spectrum)) * (1.0 + math.sqrt(problem.d / problem.samples)) ** 2 * 1.1
    r = np.linspace(0.0, 1.0, 801)[1:] * radius
    z = np.concatenate([r * np.exp(1j * CONTOUR_ANGLE),
                        radius * np.exp(1j * np.linspace(-CONTOUR_ANGLE, CONTOUR_ANGLE, 201))])
    ridge = float(problem.ridge)

    def bounded(eta):
        p = 1.0 + momentum - eta * (z + ridge)
        disc = np.sqrt(p * p - 4.0 * momentum + 0j)
        return np.max(np.maximum(np.abs(p + disc), np.abs(p - disc))) / 2.0 <= 1.0 + 1e-12

    low, high = 0.0, 2.0 * (1.0 + momentum) / ridge if ridge > 0 else 4.0 * (1 + momentum) / radius
    while bounded(high):
        low, high = high, 2.0 * high
    for _ in range(60):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if bounded(mid) else (low, mid)
    return LIMIT_MARGIN * low


LIMIT_MARGIN = 0.9
"""Of the bounded range: measured at d = 100 (α = 0.5, 2; β = 0, 0.6), the limit's gap to
the exact method at 0.9 of it equals the gap at 0.5, at 1.0 its final train risk is off by
up to 1% (docs/theory.md, Full-batch GD)."""


def _check_limit_range(problem: FullBatchRegression, optimizer: SGD, method: str) -> None:
    """The "limit" method refuses, in one line, a constant lr past `limit_accurate_lr`."""
    if method != "limit" or callable(optimizer.lr) or optimizer.group_lr or not all(
            is_concrete(x) for x in (optimizer.lr, optimizer.momentum, problem.ridge,
                                     problem.spectrum)):
        return
    lr, beta = float(optimizer.lr), float(optimizer.momentum)
    top = limit_accurate_lr(problem, beta)
    if lr > top:
        edge = spectrum_edge(problem.spectrum, problem.samples)
        limit = 2.0 * (1.0 + beta) / (edge + float(problem.ridge))  # `stability_limit`'s
        raise ValueError(f"SGD.lr: full-batch GD's 'limit' method is accurate for lr <= {top:.4g} "
                         f"here (its contour integral fails beyond; the stability limit is "
                         f"{limit:.4g}); use method 'exact' (got lr = {lr:g})")


@register_theory(FullBatchRegression, SGD, check=_check_limit_range)
def gd_theory(problem: FullBatchRegression, optimizer: SGD, state: Array, method: str,
              datasets: int = 16, seed: int = 0, contour_points: int = 384) -> Recursion:
    """Full-batch GD with momentum: "limit" (the deterministic equivalent on a contour) or
    "exact" (the mean over `datasets` sampled data sets)."""
    check_integer("datasets", datasets, low=1)
    check_integer("contour_points", contour_points, low=16)
    if method == "limit":
        return _limit_recursion(problem, optimizer, _contour(problem, state, contour_points))
    modes = _dataset_modes(problem, state, datasets, seed)
    return _polynomial_recursion(problem, optimizer, modes.s,
                                 lambda carry: _observe_exact(problem, modes, carry),
                                 f"exact, mean of {datasets} data sets")


def draw_dataset(problem: FullBatchRegression, key, dtype=float) -> tuple[Array, Array]:
    """One training set: inputs X (n, d) in Σ's eigenbasis and labels y (n,). The simulator
    draws with the same function, so `predict(method="exact", seed=s)` sees its data sets."""
    kx, kn = jax.random.split(key)
    x = (
        jax.random.normal(kx, (problem.samples, problem.d), dtype)
        * jnp.sqrt(problem.spectrum.astype(dtype))[None, :]
    )
    y = x @ problem.teacher.astype(dtype) + problem.noise.astype(
        dtype
    ) * jax.random.normal(kn, (problem.samples,), dtype)
    return x, y


def _polynomial_recursion(problem, optimizer: SGD, points, observe, label) -> Recursion:
    r"""Per eigenvalue s of $\hat\Sigma$ (or contour point z), heavy-ball GD moves the error as
    $x_{k+1} = (1 + \beta - \eta_k(s + \rho))x_k - \beta x_{k-1} + \eta_k\,\text{input}$:
    φ (input 0, φ_0 = 1) carries $e_0$, ψ (input 1, ψ_0 = 0) carries the ridge pull and the
    noise."""
    beta = optimizer.checked_momentum()
    dt = problem.samples / problem.d

    def step(carry, k):
        phi, phi_prev, psi, psi_prev = carry
        eta = optimizer.lr_at(k * dt)
        p = 1.0 + beta - eta * (points + problem.ridge)
        return p * phi - beta * phi_prev, phi, p * psi - beta * psi_prev + eta, psi

    one, zero = jnp.ones_like(points), jnp.zeros_like(points)
    return Recursion(
        (one, one, zero, zero),
        step,
        lambda c: observe((c[0], c[2])),
        problem.divergence_floor(),
        label,
    )


def _noise_train(problem, dimension_sum) -> Array:
    r"""$\sigma^2(1 - d/n + \frac1n\sum_i(1 - s_i\psi_i)^2)$, the label-noise part of 2 × train."""
    n = problem.samples
    return problem.noise**2 * (1.0 - problem.d / n + dimension_sum / n)


# ---------------------------------------------------------------- exact, per data set


class _DatasetModes(eqx.Module):
    s: Array  # (D, d) eigenvalues of each data set's Σ̂
    vecs: Array  # (D, d, d) its eigenvectors (columns), in Σ's eigenbasis
    e0: Array  # (D, d) V^T e_0
    teacher: Array  # (D, d) V^T θ*
    sigma_diag: Array  # (D, d) (V^T Σ V)_ii


def _dataset_modes(problem, e0, datasets, seed) -> _DatasetModes:
    keys = jax.random.split(jax.random.key(seed), datasets)

    def one(key):
        x, _ = draw_dataset(problem, key)
        s, v = jnp.linalg.eigh(x.T @ x / problem.samples)
        return _DatasetModes(
            jnp.clip(s, 0.0, None),
            v,
            v.T @ e0,
            v.T @ problem.teacher,
            (v**2).T @ problem.spectrum,
        )

    return jax.vmap(one)(keys)


def _observe_exact(problem, modes: _DatasetModes, carry) -> Observation:
    r"""Per data set, with the label noise averaged: mean error $m = \phi\,V^\top e_0 -
    \rho\psi\,V^\top\theta^*$; test $= \frac12[m^\top V^\top\Sigma V m + \frac{\sigma^2}{n}
    \sum_i (V^\top\Sigma V)_{ii}\,s_i\psi_i^2]$, train $= \frac12[\sum_i s_i m_i^2 +
    \sigma^2(1 - \frac dn + \frac1n\sum_i(1 - s_i\psi_i)^2)]$."""
    phi, psi = carry
    s = modes.s
    m = phi * modes.e0 - problem.ridge * psi * modes.teacher
    err = jnp.einsum("bij,bj->bi", modes.vecs, m)
    test = 0.5 * (
        err**2 @ problem.spectrum
        + problem.noise**2
        / problem.samples
        * jnp.sum(modes.sigma_diag * s * psi**2, -1)
    )
    train = 0.5 * (
        jnp.sum(s * m**2, -1) + _noise_train(problem, jnp.sum((1.0 - s * psi) ** 2, -1))
    )
    return Observation(jnp.mean(test), {"train": jnp.mean(train)}, None)


# ---------------------------------------------------------------- high-d limit


class _Contour(eqx.Module):
    z: Array  # (N,) points of a contour around the spectrum of Σ̂ (through 0)
    weight: Array  # (N,) -dz/(2πi): Σ_j weight_j g(z_j) a^T R̄(z_j) b ≈ a^T g(Σ̂) b
    quad: Array  # (N, 3) a^T R̄ b for (a, b) = (e0, e0), (e0, θ*), (θ*, θ*)
    quad_sigma: Array  # (N, 3) a^T Σ R̄ b for the same pairs
    sigma_pairs: Array  # (3,) a^T Σ b
    trace: Array  # (N,) tr R̄(z)
    trace_sigma: Array  # (N,) tr Σ R̄(z) = n δ(z)
    two_point: Array  # (3, N, N) kernels w_j w_l z_j z_l a^T E[R(z_j) Σ R(z_l)] b


def resolvent_delta(spectrum, samples: int, z, iterations: int = 400) -> Array:
    r"""δ(z) solving $\delta = \frac1n\sum_i \lambda_i/(\lambda_i/(1+\delta) - z)$, the
    deterministic equivalent $E(\hat\Sigma - z)^{-1} \approx (\Sigma/(1+\delta) - z)^{-1}$
    (Marchenko–Pastur for Σ = I), on the branch with Im δ · Im z ≥ 0. Damped fixed-point
    iterations, then Newton steps."""
    lam = jnp.asarray(spectrum)[None, :]
    z = jnp.asarray(z, dtype=complex)[:, None]

    def rhs(delta):
        return jnp.sum(lam / (lam / (1.0 + delta) - z), -1, keepdims=True) / samples

    def fixed_point(delta, _):
        return 0.5 * delta + 0.5 * rhs(delta), None

    delta = jax.lax.scan(fixed_point, jnp.zeros_like(z), None, length=iterations)[0]

    def newton(delta, _):
        r = lam / (1.0 + delta) - z
        slope = (
            1.0
            - jnp.sum(lam**2 / ((1.0 + delta) ** 2 * r**2), -1, keepdims=True) / samples
        )
        return delta - (delta - rhs(delta)) / slope, None

    return jax.lax.scan(newton, delta, None, length=30)[0][:, 0]


def spectrum_edge(spectrum, samples: int) -> float:
    r"""The upper edge of the high-d spectrum of $\hat\Sigma$ (Silverstein & Choi 1995):
    $\min_{m \in (-1/\lambda_{max}, 0)} x(m)$, $x(m) = -1/m + \frac1n\sum_i \lambda_i/(1 +
    \lambda_i m)$, a convex function; $(1 + \sqrt{d/n})^2$ for Σ = I."""
    lam = np.asarray(spectrum, dtype=np.float64)
    lam = lam[lam > 0]
    top = lam.max()

    def x(u):  # m = -u / top, u in (0, 1)
        m = -u / top
        return -1.0 / m + np.sum(lam / (1.0 + lam * m)) / samples

    found = scipy.optimize.minimize_scalar(x, bounds=(1e-12, 1.0 - 1e-12), method="bounded",
                                           options={"xatol": 1e-13})
    return float(found.fun)


CONTOUR_ANGLE = 0.5
r"""Half-opening θ0 of the sector contour: rays $z = \rho e^{\pm i\theta_0}$ from 0 to R, closed
by the arc |z| = R. The polynomials stay bounded on it for η(R + ρ) ≤ 2 cos θ0."""


def _gauss_panels(
    length: float, panels: int, nodes: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(nodes)
    h = length / panels
    starts = np.arange(panels) * h
    return (
        (starts[:, None] + h * (x[None, :] + 1) / 2).ravel(),
        np.tile(w * h / 2, panels),
    )


def _sector(radius, points: int) -> tuple[Array, Array]:
    """Nodes and dz of the closed sector contour (counter-clockwise): ~10% of the points on
    the arc, the rest on the two rays, Gauss–Legendre in u = log(R/ρ) on [0, 24] (the
    spectrum) plus 4 long panels on [24, 48] (near 0 the integrand is smooth in u; cutting
    it off earlier loses ~e^{-24} × ψ_k(0)^2, which grows like (kη)^2)."""
    arc_nodes = max(8, points // 10 // 8 * 8)
    panels = max(1, (points - arc_nodes) // 16 - 4)
    u, wu = _gauss_panels(24.0, panels)
    u_tail, wu_tail = _gauss_panels(24.0, 4)
    u, wu = np.concatenate([u, 24.0 + u_tail]), np.concatenate([wu, wu_tail])
    ray = np.exp(-u) * np.exp(1j * CONTOUR_ANGLE)
    ang, wa = _gauss_panels(2 * CONTOUR_ANGLE, arc_nodes // 8)
    arc = np.exp(1j * (ang - CONTOUR_ANGLE))
    z = np.concatenate([ray, np.conj(ray), arc])
    dz = np.concatenate([-ray * wu, np.conj(ray) * wu, 1j * arc * wa])
    return radius * jnp.asarray(z), radius * jnp.asarray(dz)


def _contour(problem: FullBatchRegression, e0, points) -> _Contour:
    r"""Every quantity is $g(\hat\Sigma) = g(0) + \hat\Sigma\,Dg(\hat\Sigma)$ with
    $Dg(z) = (g(z) - g(0))/z$ entire, so the integrands carry $z\bar R(z)$, bounded at z = 0
    (the null space of Σ̂ when n < d): the contour may pass through 0, and the polynomials
    are integrated where they are bounded. The two-resolvent kernels are kept whole (a
    truncated SVD of them had a NaN derivative)."""
    lam, n = problem.spectrum, problem.samples
    radius = jnp.max(lam) * (1.0 + math.sqrt(problem.d / n)) ** 2 * 1.1
    z, dz = _sector(radius, points)
    weight = -dz / (2j * jnp.pi)
    delta = resolvent_delta(lam, n, z)
    r = 1.0 / (
        lam[None, :] / (1.0 + delta[:, None]) - z[:, None]
    )  # (N, d) diagonal of R̄
    vecs = (e0, problem.teacher)
    pairs = [(0, 0), (0, 1), (1, 1)]
    products = [vecs[a] * vecs[b] for a, b in pairs]
    # E[R1 Σ R2] ≈ R̄1 Σ R̄2 / (1 - T12), T12 = tr(Σ R̄1 Σ R̄2) / (n (1+δ1)(1+δ2))
    scaled = r / (1.0 + delta[:, None])
    t12 = (scaled * lam[None, :] ** 2) @ scaled.T / n
    wz = weight * z
    two_point = jnp.stack(
        [
            ((r * (ab * lam)[None, :]) @ r.T) / (1.0 - t12) * wz[:, None] * wz[None, :]
            for ab in products
        ]
    )
    return _Contour(
        z,
        weight,
        jnp.stack([r @ ab for ab in products], -1),
        jnp.stack([r @ (ab * lam) for ab in products], -1),
        jnp.stack([ab @ lam for ab in products]),
        jnp.sum(r, -1),
        n * delta,
        two_point,
    )


def _limit_recursion(problem, optimizer: SGD, contour: _Contour) -> Recursion:
    r"""The polynomials at 0 and their difference quotients on the contour: with
    $p(z) = 1 + \beta - \eta_k(z + \rho)$, $g_{k+1}(0) = p(0)g_k(0) - \beta g_{k-1}(0) + \eta_k
    \cdot\text{input}$ and $Dg_{k+1} = p(z)Dg_k - \beta Dg_{k-1} - \eta_k g_k(0)$ (exact; no
    cancellation)."""
    beta = optimizer.checked_momentum()
    dt = problem.samples / problem.d
    z = contour.z

    def step(carry, k):
        at0, at0_prev, diff, diff_prev = carry  # at0: (φ(0), ψ(0)); diff: (2, N)
        eta = optimizer.lr_at(k * dt)
        p0 = 1.0 + beta - eta * problem.ridge
        at0_next = p0 * at0 - beta * at0_prev + eta * jnp.array([0.0, 1.0])
        diff_next = (
            (p0 - eta * z)[None, :] * diff - beta * diff_prev - eta * at0[:, None]
        )
        return at0_next, at0, diff_next, diff

    at0 = jnp.array([1.0, 0.0])
    diff = jnp.zeros((2, z.shape[0]), z.dtype)
    return Recursion(
        (at0, at0, diff, diff),
        step,
        lambda c: _observe_limit(problem, contour, c[0], c[2]),
        problem.divergence_floor(),
        "high-d limit (deterministic equivalent)",
    )


def _observe_limit(problem, c: _Contour, at0, diff) -> Observation:
    r"""With $e(\hat\Sigma) = \phi(\hat\Sigma)e_0 - \rho\psi(\hat\Sigma)\theta^* = c_0 +
    \hat\Sigma\,De(\hat\Sigma)$: test $= \frac12[c_0^\top\Sigma c_0 + 2c_0^\top\Sigma\hat\Sigma
    De + De^\top\hat\Sigma\Sigma\hat\Sigma De + \frac{\sigma^2}{n}\mathrm{tr}\,\Sigma\hat\Sigma
    \psi^2]$ (two-resolvent kernel for the last bias term), train $= \frac12[e^\top\hat\Sigma e
    + \sigma^2(1 - \frac dn + \frac1n\mathrm{tr}(1 - \hat\Sigma\psi)^2)]$ (docs/theory.md,
    Full-batch GD)."""
    rho = problem.ridge
    phi0, psi0 = at0
    d_phi, d_psi = diff
    z, wz = c.z, c.weight * c.z
    phi, psi = phi0 + z * d_phi, psi0 + z * d_psi
    # coefficients of the pairs (e0 e0, e0 θ*, θ* θ*) in e^T A e for e = a e0 - ρ b θ*
    pair = lambda a, b: jnp.stack(
        [a[0] * b[0], -rho * (a[0] * b[1] + a[1] * b[0]), rho**2 * a[1] * b[1]], -1
    )
    const = pair((phi0, psi0), (phi0, psi0)) @ c.sigma_pairs
    cross = 2 * jnp.sum(
        wz * jnp.sum(pair((phi0, psi0), (d_phi, d_psi)) * c.quad_sigma, -1)
    )
    form = lambda i, a, b: a @ (c.two_point[i] @ b)
    kernel = (
        form(0, d_phi, d_phi)
        - 2 * rho * form(1, d_phi, d_psi)
        + rho**2 * form(2, d_psi, d_psi)
    )
    variance = problem.noise**2 / problem.samples * jnp.sum(wz * psi**2 * c.trace_sigma)
    # risks are >= 0; the quadrature leaves a rounding error of ~1e-9 around a zero risk
    test = jnp.maximum(0.5 * jnp.real(const + cross + kernel + variance), 0.0)
    train_bias = jnp.sum(wz * jnp.sum(pair((phi, psi), (phi, psi)) * c.quad, -1))
    noise_sum = problem.d + jnp.sum(wz * (z * psi**2 - 2 * psi) * c.trace)
    train = jnp.maximum(0.5 * jnp.real(train_bias + _noise_train(problem, noise_sum)), 0.0)
    return Observation(test, {"train": train}, None)


__all__ = ["FullBatchRegression", "draw_dataset", "limit_accurate_lr", "resolvent_delta",
           "spectrum_edge"]
