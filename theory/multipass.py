r"""Multi-pass SGD on a fixed training set of least squares: train and test risk curves.

A data set of n samples $x_\mu \sim N(0, \Sigma)$, $\Sigma = \mathrm{diag}(\lambda)$, labels
$y_\mu = \theta^*\cdot x_\mu + \sigma\xi_\mu$ (drawn once per seed, `fullbatch.draw_dataset`),
is trained on for many epochs by mini-batch SGD on the ridge objective
$\hat L(\theta) = \frac{1}{2n}\|X\theta - y\|^2 + \frac\rho2\|\theta\|^2$:
$\theta_{k+1} = \theta_k - \gamma_k\big[\frac1B\sum_{b}x_{i_b}(x_{i_b}\cdot\theta_k - y_{i_b})
+ \rho\theta_k\big] + \beta(\theta_k - \theta_{k-1})$, $\gamma_k = \eta(t_k)/d$, $t = kB/d$
(one epoch is t = n/d). The rows $i_b$ of step k are drawn (a) uniformly with replacement,
(b) from the stream of a fresh random permutation each epoch, (c) from the fixed order
0..n-1 (rows are i.i.d., so that order is a random one); in (b) and (c) step k takes the
stream's positions kB .. kB + B - 1, so at B = n every step is full-batch GD.

Methods (docs/theory.md, Multi-pass SGD):

- "exact" (sampling "replacement"): per data set, the first and second moments of the error
  from the data set's ridge fit close on the rows; exact at finite n, d. The Curve is the mean
  over `datasets` data sets, the ones `simulate` draws with key `seed` (same `data_dtype`).
- "limit" (sampling "replacement"): n, d → ∞ at α = n/d, homogenized SGD (Paquette,
  Paquette, Adlam, Pennington, arXiv 2205.07069): the noise covariance is 2 L̂(θ)Σ̂/B, so the
  train risk obeys a discrete Volterra equation whose kernel is a trace of a function of Σ̂,
  taken with its deterministic equivalent on full-batch GD's contour (`fullbatch`).
- "marginal" (sampling "reshuffle" or "cyclic"): "exact"'s recursion with the one-step noise
  of B rows drawn without replacement, (n - B)/(n - 1) times that with replacement; the
  correlations between the steps of an epoch are left out, so it is exact at B = n (GD) and
  an approximation otherwise (its measured distance: docs/theory.md).

The Curve's risk is the test (population) risk $\tfrac12(\theta - \theta^*)^\top\Sigma
(\theta - \theta^*)$; the observable "train" is $\frac{1}{2n}\|X\theta - y\|^2$.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from . import fullbatch, spectra
from ._family import AbstractProblem, Observation, Recursion, StepClock
from ._theories import register_theory
from .checks import INT32_MAX, check_integer, check_range, check_vector, is_concrete
from .fields import Integer, Number, Numbers, String, Table, read_fields
from .optim import SGD

SAMPLINGS = ("replacement", "reshuffle", "cyclic")
METHOD_SAMPLINGS = {"exact": ("replacement",), "limit": ("replacement",),
                    "marginal": ("reshuffle", "cyclic")}


class MultiPassRegression(AbstractProblem):
    r"""Least squares on a fixed training set of n Gaussian samples, trained by multi-pass SGD.

    **Arguments:**

    - `spectrum`: eigenvalues $\lambda_i \ge 0$ of the input covariance, shape `(d,)`.
    - `samples`: the training-set size n (integer >= 1); α = n/d.
    - `teacher`: $\theta^*$ in the eigenbasis (default flat, $E[f^{*2}] = 1$).
    - `noise`: label-noise standard deviation $\sigma \ge 0$; `ridge`: $\rho \ge 0$.
    - `sampling`: "replacement", "reshuffle" (a new permutation each epoch) or "cyclic".
    - `init`: initial $\theta_0$ in the eigenbasis (default zeros).

    The optimizer is `SGD(lr, batch=B, momentum=..., schedule)`, per-step size lr/d; without
    replacement B <= n.
    """

    family = "multipass"
    methods: ClassVar[dict[str, str]] = {"exact": "recursion", "limit": "recursion",
                                         "marginal": "recursion"}
    config_fields = {"spectrum": spectra.Spectrum(), "samples": Integer(),
                     "teacher": spectra.Teacher(), "noise": Number(), "ridge": Number(),
                     "sampling": String(SAMPLINGS), "init": Numbers()}
    theory_options: ClassVar[dict] = {"datasets": 16, "seed": 0, "data_dtype": "float32",
                                      "contour_points": 384}
    observable_labels: ClassVar[dict[str, str]] = {
        "train": r"train risk  $\frac{1}{2n}\|X\theta - y\|^2$"
    }
    spectrum: Array
    teacher: Array
    noise: Array
    ridge: Array
    init: Array
    samples: int = eqx.field(static=True)
    sampling: str = eqx.field(static=True)

    def __init__(self, spectrum, samples, teacher=None, noise=0.0, ridge=0.0,
                 sampling="replacement", init=None):
        check_vector("MultiPassRegression.spectrum", spectrum)
        check_range("MultiPassRegression.spectrum", spectrum, low=0.0)
        if not np.sum(np.asarray(spectrum, dtype=np.float64)) > 0:
            raise ValueError("MultiPassRegression.spectrum must have a positive entry (got all zeros)")
        check_integer("MultiPassRegression.samples", samples, low=1)
        if sampling not in SAMPLINGS:
            raise ValueError(f"MultiPassRegression.sampling must be one of {', '.join(SAMPLINGS)} "
                             f"(got {sampling!r})")
        self.spectrum = jnp.asarray(spectrum, dtype=float)
        self.samples, self.sampling = int(samples), sampling
        self.teacher = jnp.asarray(spectra.flat_teacher(spectrum) if teacher is None else teacher,
                                   dtype=float)
        self.noise = jnp.asarray(noise, dtype=float)
        self.ridge = jnp.asarray(ridge, dtype=float)
        self.init = jnp.zeros_like(self.spectrum) if init is None else jnp.asarray(init, dtype=float)

    def __check_init__(self):
        d = self.spectrum.shape[0]
        check_vector("MultiPassRegression.teacher", self.teacher, size=d)
        check_vector("MultiPassRegression.init", self.init, size=d)
        check_range("MultiPassRegression.noise", self.noise, low=0.0)
        check_range("MultiPassRegression.ridge", self.ridge, low=0.0)

    @property
    def d(self) -> int:
        return self.spectrum.shape[0]

    @property
    def dimension(self) -> int:
        return self.d

    @property
    def alpha(self) -> float:
        """α = n/d, samples per dimension."""
        return self.samples / self.d

    def full_batch(self) -> fullbatch.FullBatchRegression:
        """The same training set trained by full-batch GD (its data sets are this family's)."""
        return fullbatch.FullBatchRegression(self.spectrum, max(2, self.samples), self.teacher,
                                             self.noise, self.ridge, self.init)

    def steps_for_epochs(self, epochs: float, batch: int) -> int:
        """SGD steps in `epochs` passes over the n rows at batch B: ceil(epochs n / B),
        refused when it overflows the step counter (int32)."""
        check_range("epochs", epochs, low=0.0, low_open=True)
        check_integer("SGD.batch", batch, low=1)
        steps = int(np.ceil(float(epochs) * self.samples / int(batch)))
        if steps > INT32_MAX:
            raise ValueError(f"epochs: {epochs:g} epochs of n = {self.samples} rows at batch "
                             f"{int(batch)} are {steps} steps, over the step count's limit "
                             f"{INT32_MAX} (int32)")
        return steps

    def initial_state(self, init=None) -> Array:
        r"""The initial error $e_0 = \theta_0 - \theta^*$ (from `init`, a θ_0 of length d)."""
        theta0 = self.init if init is None else init
        check_vector("init", theta0, size=self.d)
        return jnp.asarray(theta0, dtype=float) - self.teacher

    def clock(self, optimizer: SGD) -> StepClock:
        if (self.sampling != "replacement" and is_concrete(optimizer.batch)
                and int(optimizer.batch) > self.samples):
            raise ValueError(f"SGD.batch must be <= MultiPassRegression.samples = {self.samples} "
                             f"when sampling = {self.sampling!r} (without replacement; got "
                             f"{int(optimizer.batch)})")
        return optimizer.step_clock(self.d)

    def divergence_floor(self) -> Array:
        return jnp.maximum(1.0, self.noise**2)

    def parameter_groups(self) -> tuple[str, ...]:
        return ("weights",)

    def stability_limit(self, optimizer: SGD, method: str | None = None, datasets: int = 16,
                        seed: int = 0, data_dtype: str = "float32", contour_points: int = 384,
                        **_):
        """The largest stable constant lr of `method`'s own dynamics (docs/theory.md, Multi-pass
        SGD: stability): "limit", `limit_critical_lr` (the mean path's edge and the Volterra
        kernel's norm 1); "exact"/"marginal", the smallest `exact_critical_lr` of the
        `datasets` data sets (plain SGD only; None with momentum or traced fields)."""
        method = _method(self, optimizer, method)
        if not all(is_concrete(x) for x in (optimizer.lr, optimizer.momentum, optimizer.batch,
                                            self.ridge, self.spectrum)) or callable(optimizer.lr):
            return None
        if method == "limit":
            return jnp.asarray(limit_critical_lr(self, optimizer, contour_points))
        if float(optimizer.momentum) != 0.0:
            return None
        factor = 1.0 if method == "exact" else (self.samples - optimizer.batch) / max(1, self.samples - 1)
        sets = _datasets(self, self.initial_state(), datasets, seed, jnp.dtype(data_dtype))
        return jnp.asarray(min(exact_critical_lr(self, sets, i, float(optimizer.batch), factor)
                               for i in range(datasets)))

    def describe(self) -> str:
        return (f"multi-pass SGD ({self.sampling}), d={self.d}, n={self.samples} "
                f"(α={self.alpha:.3g}), σ={float(self.noise):g}, ridge={float(self.ridge):g}")

    def metadata(self) -> dict:
        out = {"samples": self.samples, "alpha": self.alpha, "sampling": self.sampling}
        if is_concrete(self.ridge):  # a traced ridge (jit, vmap, grad) is left out
            out["ridge"] = float(np.asarray(self.ridge))
        return out

    @classmethod
    def from_config(cls, table: Table) -> MultiPassRegression:
        """The constructor's fields, with `alpha` = n/d in place of `samples` if given."""
        given = fullbatch.samples_from_alpha(cls, table, low=1)
        if given is None:
            return super().from_config(table)
        return cls(**read_fields(cls, table, cls.config_fields, **given))


def _method(problem, optimizer, method):
    from ._family import method_of
    from ._theories import theory_for
    if method is not None:
        method = method_of(type(problem), method)
    return theory_for(problem, optimizer, method, check=False)[1]


def limit_critical_lr(problem: MultiPassRegression, optimizer: SGD, contour_points: int = 384) -> float:
    r"""The largest constant lr at which the "limit" recursion stays bounded (docs/theory.md,
    Multi-pass SGD: stability). The mean path (GD at γ = η/d) needs $\gamma(s_{max} + \rho) <
    2(1+\beta)$ at the deterministic equivalent's edge; the noise, a renewal (Volterra)
    equation for the train risk, needs its kernel's norm $K(\gamma) = \frac{\gamma^2}{B}
    \mathrm{tr}[\hat\Sigma^2H(\gamma(\hat\Sigma + \rho))] < 1$, $H(g) = \frac{1+\beta}{(1-\beta)
    g(2(1+\beta) - g)}$ (the heavy-ball impulse response's squared sum), taken on the recursion's
    own contour. K increases in γ; its root by Brent's method. As d → ∞: $2B(1-\beta)d /
    \mathrm{tr}[\hat\Sigma^2(\hat\Sigma+\rho)^{-1}]$ (linreg's $2B(1-\beta)d/\sum\lambda$ at ρ = 0)."""
    import scipy.optimize
    beta, batch, rho, d = (float(optimizer.momentum), float(optimizer.batch),
                           float(problem.ridge), problem.d)
    c = fullbatch._contour(problem, problem.initial_state(), contour_points)
    z, w, tr = (np.asarray(c.z), np.asarray(c.weight), np.asarray(c.trace))
    edge = fullbatch.spectrum_edge(problem.spectrum, problem.samples)
    top = 2.0 * (1.0 + beta) / (edge + rho)

    def gain(gamma):
        g = gamma * (z + rho)
        h = (1.0 + beta) / ((1.0 - beta) * g * (2.0 * (1.0 + beta) - g))
        return float(np.real(np.sum(w * z**2 * h * tr))) * gamma**2 / batch

    # H's pole z = 2(1+β)/γ - ρ must stay outside the contour (radius max|z|)
    hi = 2.0 * (1.0 + beta) / (np.max(np.abs(z)) + rho) * 0.9  # and off it, for the quadrature
    if gain(hi) < 1.0:
        return d * top
    return d * scipy.optimize.brentq(lambda g: gain(g) - 1.0, 1e-12 * hi, hi, xtol=1e-16, rtol=1e-12)


def exact_critical_lr(problem, sets, index: int, batch: float, factor: float = 1.0) -> float:
    r"""The largest constant lr of plain SGD at which data set `index`'s exact recursion stays
    bounded. Its linear part $L = \mathcal P + f\frac{\gamma^2}{B}(F - \mathcal S)$, $\mathcal P(A) =
    pAp$, $F(A) = \frac1n\sum_i (z_i^\top Az_i)z_iz_i^\top$, $\mathcal S(A) = SAS$ ($F - \mathcal S$ is
    the noise covariance map, completely positive): with $|p| < 1$ the splitting $I - L = (I -
    \mathcal P) - N$ is regular, so $\rho(L) < 1$ iff $\mu(\gamma) = \rho(W\circ N) < 1$, $W_{jk} =
    1/(1 - p_jp_k)$; μ increases in γ (root by Brent, ρ by Lanczos on $W^{1/2}NW^{1/2}$), cf.
    `dataset.exact_critical_lr`."""
    import scipy.optimize
    import scipy.sparse.linalg
    s = np.asarray(sets.s[index]); zz = np.asarray(sets.z[index])
    n, d = zz.shape
    mu = s + float(problem.ridge)
    live = mu > d * np.finfo(np.float64).eps * mu.max()
    s, zz, mu = s[live], zz[:, live], mu[live]
    m = s.size
    top = 2.0 / mu.max()
    if factor == 0.0:
        return d * top * (1 - 1e-12)

    def gain(gamma):
        p = 1.0 - gamma * mu
        root_w = 1.0 / np.sqrt(1.0 - p[:, None] * p[None, :])

        def matvec(v):
            a = root_w * v.reshape(m, m)
            weight = np.sum((zz @ a) * zz, axis=1)
            noise = (zz.T * weight) @ zz / n - s[:, None] * a * s[None, :]
            return (root_w * noise).ravel()

        op = scipy.sparse.linalg.LinearOperator((m * m, m * m), matvec=matvec, dtype=np.float64)
        ev = scipy.sparse.linalg.eigsh(op, k=1, which="LA", tol=1e-10, v0=np.eye(m).ravel(),
                                       return_eigenvectors=False)
        return factor * gamma**2 / batch * float(ev[0])

    hi = top * (1.0 - 1e-9)
    if gain(hi) < 1.0:
        return d * hi
    return d * scipy.optimize.brentq(lambda g: gain(g) - 1.0, 1e-12 * top, hi, xtol=1e-16, rtol=1e-10)


def _check(problem: MultiPassRegression, optimizer: SGD, method: str) -> None:
    allowed = METHOD_SAMPLINGS[method]
    if problem.sampling not in allowed:
        other = [m for m, s in METHOD_SAMPLINGS.items() if problem.sampling in s]
        raise ValueError(f"method {method!r} is the theory of sampling = {' or '.join(allowed)} "
                         f"(got sampling = {problem.sampling!r}; use method = {other[0]!r})")
    if method == "limit" and problem.samples < 2:
        raise ValueError("method 'limit' needs MultiPassRegression.samples >= 2 "
                         f"(got {problem.samples})")


@register_theory(MultiPassRegression, SGD, check=_check)
def sgd_theory(problem: MultiPassRegression, optimizer: SGD, state: Array, method: str,
               datasets: int = 16, seed: int = 0, data_dtype: str = "float32",
               contour_points: int = 384) -> Recursion:
    """"exact"/"marginal": the mean of the per-data-set recursions over `datasets` data sets;
    "limit": homogenized SGD on the deterministic equivalent."""
    check_integer("datasets", datasets, low=1)
    check_integer("contour_points", contour_points, low=16)
    if data_dtype not in ("float32", "float64"):
        raise ValueError(f"data_dtype must be float32 or float64 (got {data_dtype!r})")
    if method == "limit":
        # fullbatch's contour and GD observables read the fields both problems share
        return _limit_recursion(problem, optimizer, fullbatch._contour(problem, state, contour_points))
    sets = _datasets(problem, state, datasets, seed, jnp.dtype(data_dtype))
    factor = 1.0 if method == "exact" else (problem.samples - optimizer.batch) / max(1, problem.samples - 1)
    label = "exact" if method == "exact" else "without-replacement marginal"
    return _exact_recursion(problem, optimizer, sets, factor, f"{label}, mean of {datasets} data sets")


# ---------------------------------------------------------------- exact, per data set


class _DataSet(eqx.Module):
    """One training set in the eigenbasis of its Σ̂ = X^T X / n (columns V)."""

    s: Array  # (d,) eigenvalues of Σ̂
    z: Array  # (n, d) rows X V
    sigma: Array  # (d, d) V^T Σ V
    residual: Array  # (n,) y - Z θ̂ (θ̂ the ridge fit)
    pull: Array  # (d,) Z^T r / n = ρ θ̂ (0 without ridge)
    offset: Array  # (d,) θ̂ - θ* in the V basis
    e0: Array  # (d,) θ_0 - θ̂ in the V basis


def _datasets(problem: MultiPassRegression, e0, count: int, seed: int, dtype) -> _DataSet:
    """The data sets of `simulate(key=seed, seeds=count)` (drawn in `dtype`, then float64)."""
    keys = jax.random.split(jax.random.key(seed), count)
    theta0 = e0 + problem.teacher

    def one(key):
        x, y = fullbatch.draw_dataset(problem, key, dtype)
        x, y = x.astype(float), y.astype(float)
        n, d = x.shape
        s, v = jnp.linalg.eigh(x.T @ x / n)
        s = jnp.clip(s, 0.0, None)
        z = x @ v
        kept = (s + problem.ridge) > d * jnp.finfo(float).eps * jnp.max(s)
        fit = jnp.where(kept, (z.T @ y / n) / jnp.where(kept, s + problem.ridge, 1.0), v.T @ theta0)
        r = y - z @ fit
        return _DataSet(s, z, v.T @ (problem.spectrum[:, None] * v), r, z.T @ r / n,
                        fit - v.T @ problem.teacher, v.T @ theta0 - fit)

    return jax.vmap(one)(keys)


def _exact_recursion(problem, optimizer: SGD, sets: _DataSet, factor, label) -> Recursion:
    r"""docs/theory.md, Multi-pass SGD. Per data set, with $\hat e = \theta - \hat\theta$ in
    Σ̂'s eigenbasis, $p = 1 + \beta - \gamma(s + \rho)$, $m = E\hat e_k$, $A = E\hat e_k\hat
    e_k^\top$, $C = E\hat e_k\hat e_{k-1}^\top$: $A' = pAp - \beta(pC + C^\top p) + \beta^2
    A_{k-1} + f\frac{\gamma^2}{B}\big[\frac1n\sum_i w_i z_iz_i^\top - (SAS - Smh^\top -
    hm^\top S + hh^\top)\big]$, $w_i = z_i^\top Az_i - 2r_iz_i\cdot m + r_i^2$, $C' = pA -
    \beta C^\top$, $m' = pm - \beta m_{k-1}$ (f = 1 with replacement)."""
    n, d = problem.samples, problem.d
    batch = jnp.asarray(optimizer.batch, dtype=float)
    beta = optimizer.checked_momentum()

    def one_step(ds: _DataSet, carry, gamma):
        m, m_prev, a, c, a_prev = carry
        p = 1.0 + beta - gamma * (ds.s + problem.ridge)
        za = ds.z @ a
        weight = jnp.sum(za * ds.z, 1) - 2.0 * ds.residual * (ds.z @ m) + ds.residual**2
        sa = ds.s[:, None] * a * ds.s[None, :]
        drift = sa - jnp.outer(ds.s * m, ds.pull) - jnp.outer(ds.pull, ds.s * m) + jnp.outer(ds.pull, ds.pull)
        noise = (ds.z.T * weight[None, :]) @ ds.z / n - drift
        pc = p[:, None] * c
        a_next = (p[:, None] * a * p[None, :] - beta * (pc + pc.T) + beta**2 * a_prev
                  + factor * gamma**2 / batch * noise)
        a_next = 0.5 * (a_next + a_next.T)
        return p * m - beta * m_prev, m, a_next, p[:, None] * a - beta * c.T, a

    def step(carry, k):
        gamma = optimizer.lr_at(k * batch / d) / d
        return jax.vmap(lambda ds, c: one_step(ds, c, gamma))(sets, carry)

    def observe(carry):
        m, a = carry[0], carry[2]

        def one(ds, m, a):
            sm = ds.sigma @ ds.offset
            test = 0.5 * (jnp.sum(ds.sigma * a) + 2.0 * sm @ m + ds.offset @ sm)
            train = 0.5 * (jnp.sum(ds.s * jnp.diagonal(a)) - 2.0 * m @ ds.pull + jnp.mean(ds.residual**2))
            return test, train

        test, train = jax.vmap(one)(sets, m, a)
        return Observation(jnp.mean(test), {"train": jnp.mean(train)}, None)

    m0 = sets.e0
    a0 = jnp.einsum("bi,bj->bij", m0, m0)
    return Recursion((m0, m0, a0, a0, a0), step, observe, problem.divergence_floor(), label)


# ---------------------------------------------------------------- high-d limit


def _limit_recursion(problem, optimizer: SGD, contour) -> Recursion:
    r"""docs/theory.md, Multi-pass SGD. The mean path is full-batch GD at step size γ_k
    (`fullbatch`'s polynomials at 0 and their difference quotients on the contour); the SGD
    noise adds $V_k = \hat\Sigma u_k(\hat\Sigma)$ to the second moment, with
    $u_{k+1}(z) = p(z)^2u_k - 2\beta p(z)c_k + \beta^2u_{k-1} + \frac{\gamma_k^2}{B}2\hat L_k$,
    $c_{k+1} = p(z)u_k - \beta c_k$, $2\hat L_k = 2\hat L^{GD}_k + \mathrm{tr}\,\hat\Sigma^2
    u_k(\hat\Sigma)$; test $+= \frac12\mathrm{tr}\,\Sigma\hat\Sigma u_k(\hat\Sigma)$."""
    beta = optimizer.checked_momentum()
    batch = jnp.asarray(optimizer.batch, dtype=float)
    d = problem.d
    z, wz = contour.z, contour.weight * contour.z

    def noise_traces(u):
        train = jnp.real(jnp.sum(wz * z * u * contour.trace))
        test = jnp.real(jnp.sum(wz * u * contour.trace_sigma))
        return train, test

    def observe(carry):
        gd = fullbatch._observe_limit(problem, contour, carry[0], carry[2])
        train, test = noise_traces(carry[4])
        return Observation(gd.risk + 0.5 * test, {"train": gd.observables["train"] + 0.5 * train}, None)

    def step(carry, k):
        at0, at0_prev, diff, diff_prev, u, c, u_prev = carry
        gamma = optimizer.lr_at(k * batch / d) / d
        two_train = 2.0 * observe(carry).observables["train"]
        p0 = 1.0 + beta - gamma * problem.ridge
        pz = p0 - gamma * z
        at0_next = p0 * at0 - beta * at0_prev + gamma * jnp.array([0.0, 1.0])
        diff_next = pz[None, :] * diff - beta * diff_prev - gamma * at0[:, None]
        u_next = pz**2 * u - 2.0 * beta * pz * c + beta**2 * u_prev + gamma**2 / batch * two_train
        return at0_next, at0, diff_next, diff, u_next, pz * u - beta * c, u

    at0 = jnp.array([1.0, 0.0])
    diff = jnp.zeros((2, z.shape[0]), z.dtype)
    u = jnp.zeros(z.shape, z.dtype)
    return Recursion((at0, at0, diff, diff, u, u, u), step, observe, problem.divergence_floor(),
                     "high-d limit (homogenized SGD)")


__all__ = ["MultiPassRegression", "SAMPLINGS", "exact_critical_lr", "limit_critical_lr"]
