r"""Power-law random features: one-pass SGD, its loss at any (d, steps), and the phases of
compute-optimal scaling.

Paquette, Paquette, Xiao, Pennington, "4+3 phases of compute-optimal neural scaling laws",
NeurIPS 2024 (arXiv 2405.15074). Data $x \sim N(0, D)$ in $\mathbb{R}^v$ with
$D = \mathrm{diag}(j^{-2\alpha})$, target $y = b\cdot x$ with $b_j = j^{-\beta}$, features
$z = W^\top x$ with $W \in \mathbb{R}^{v\times d}$ of i.i.d. $N(0, 1/d)$ entries (drawn from
`key`), model $\theta\cdot z$, loss $P(\theta) = \tfrac12 E[(\theta\cdot z - y)^2]$, one-pass
SGD $\theta_{k+1} = \theta_k - \frac{\gamma}{B}\sum_b z_b(\theta_k\cdot z_b - y_b)$ from
$\theta_0 = 0$ with `SGD(lr=γ, batch=B)` (the paper's γ; a sample costs d, so B steps of
compute $f = d\,kB$).

Given W this is least squares on Gaussian features (docs/theory.md, Power-law random
features): $z$ has covariance $K = W^\top D W$, the best $\theta^* = K^{-1}W^\top D b$, and the
residual $y - \theta^*\cdot z$ is Gaussian and uncorrelated with (so independent of) z, with
variance $\sigma^2 = b^\top D b - \theta^{*\top} K\theta^*$. So `LinearRegression` with the
spectrum $d\,\mathrm{eig}(K)$ (its rate convention: step γ/d on $\sqrt d$-scaled inputs is
step γ here), θ* in K's eigenbasis over $\sqrt d$ and noise σ is exact at every d, and
$P = \text{its risk} + \sigma^2/2$. Methods:

- "volterra" (default): plain SGD at a constant rate, the loss at any step count in
  O(d) per recorded step (`theory._volterra`, exact to ~1e-12), for scaling-law horizons.
- "exact": the step-by-step recursion (momentum, schedules; O(d) per step).
"""

from __future__ import annotations

import math
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from . import _volterra, linreg
from ._family import AbstractProblem, BenchCase, Observation
from ._theories import register_theory
from .checks import check_integer, check_memory, check_range, is_concrete
from .fields import INT32_MAX, Integer, Table, read_fields
from .linreg import LinearRegression, ModeMoments, closed_form, critical_lr
from .optim import SGD

REFERENCE = "Paquette, Paquette, Xiao, Pennington, NeurIPS 2024 (arXiv 2405.15074)"


def compute_optimal_exponents(alpha: float, beta: float) -> dict:
    r"""The phase of (α, β) and the compute-optimal exponents $d^* \propto f^{x}$,
    $P^* \propto f^{-y}$ (docs/theory.md, Power-law random features), from the loss terms
    $F_0 \asymp d^{-2\alpha + \max(0, 1 - 2\beta)}$, $F_{pp} \asymp (\gamma r)^{-(2\alpha+2\beta-1)/(2\alpha)}$,
    $F_{ac} \asymp d^{-1}(\gamma r)^{-1+1/(2\alpha)}$ (2β > 1) and
    $K_{pp} \asymp (\gamma r)^{-2+1/(2\alpha)}$, balanced two at a time at $f = d r$:

    - I  (2β < 1):      F_pp = F_0,   $x = 1/(2\alpha+1)$,  $y = (2\alpha+2\beta-1)/(2\alpha+1)$
    - II (2β > 1, β < α): F_pp = F_ac, $x = \beta/(\alpha+\beta)$, $y = (2\alpha+2\beta-1)/(2\alpha+2\beta)$
    - III (β > α):       K_pp = F_ac, $x = 1/2$,          $y = 1 - 1/(4\alpha)$

    Not covered, α ≤ 1/2 (exponents None, with `not_covered` saying why): the paper's
    sub-phases Ib and Ic (2β < 1) and phase IV (2β > 1, split into IVa and IVb), where the
    data's trace $\sum_j j^{-2\alpha}$ grows with v, so the stable rate shrinks with d and the
    balance of the loss terms above (derived at a d-free rate) does not hold; α ≤ 1/4 is
    outside the paper's diagram.
    """
    if not 2 * alpha + 2 * beta > 1:
        raise ValueError(f"alpha, beta: the model needs 2 alpha + 2 beta > 1 (got {alpha:g}, {beta:g})")
    if alpha <= 0.5:
        phase = "outside (α ≤ 1/4)" if alpha <= 0.25 else ("Ib/Ic" if 2 * beta < 1 else "IV")
        return {"phase": phase, "model_size": None, "loss": None, "reference": REFERENCE,
                "not_covered": "α ≤ 1/2: the stable rate scales with d there (the data's trace "
                               "grows with v); hild derives no exponents for it"}
    if 2 * beta < 1:
        phase, x, y = "I", 1 / (2 * alpha + 1), (2 * alpha + 2 * beta - 1) / (2 * alpha + 1)
    elif beta < alpha:
        phase, x, y = "II", beta / (alpha + beta), (2 * alpha + 2 * beta - 1) / (2 * alpha + 2 * beta)
    else:
        phase, x, y = "III", 0.5, 1 - 1 / (4 * alpha)
    return {"phase": phase, "model_size": x, "loss": y, "reference": REFERENCE}


class PowerLawRandomFeatures(AbstractProblem):
    r"""One-pass SGD on power-law random features (`v` data dimensions, `d` features).

    **Arguments:**

    - `alpha`: data exponent α > 0 (covariance $j^{-2\alpha}$); `beta`: target exponent β,
      with 2α + 2β > 1.
    - `v`: data dimension, an integer >= d (the paper takes v/d > 1; v >= 4d keeps the
      finite-v effects small); `d`: number of random features >= 1.
    - `key`: the seed of W (an integer in [0, 2^32 - 1]); the theory is exact given W. The
      features are nested: with the same key and v, the first d' columns of W at d are
      the W of d' (up to the 1/√d scale), so a scaling study compares nested models.
    """

    family = "power_law_rf"
    methods: ClassVar[dict[str, str]] = {"volterra": "closed", "exact": "recursion"}
    config_fields = {"d": Integer(low=1, high=INT32_MAX), "v": Integer(low=1, high=INT32_MAX),
                     "key": Integer(low=0, high=2**32 - 1)}
    alpha: float = eqx.field(static=True)
    beta: float = eqx.field(static=True)
    v: int = eqx.field(static=True)
    key: int = eqx.field(static=True)
    projection: Array
    spectrum: Array
    basis: Array
    teacher: Array
    noise_variance: Array

    def __init__(self, alpha: float, beta: float, v: int, d: int, key: int = 0):
        check_range("PowerLawRandomFeatures.alpha", alpha, low=0.0, low_open=True)
        check_range("PowerLawRandomFeatures.beta", beta)
        if not 2 * alpha + 2 * beta > 1:
            raise ValueError(f"PowerLawRandomFeatures.alpha, beta: need 2 alpha + 2 beta > 1 "
                             f"(got alpha = {alpha:g}, beta = {beta:g})")
        check_integer("PowerLawRandomFeatures.d", d, low=1)
        check_integer("PowerLawRandomFeatures.v", v, low=int(d))
        check_integer("PowerLawRandomFeatures.key", key, low=0, high=2**32 - 1)
        check_memory("PowerLawRandomFeatures.v, d", 8.0 * (3 * v * d + 3 * d * d),
                     f"power-law random features at v = {v}, d = {d}")  # W, K and its eigenvectors
        self.alpha, self.beta, self.v, self.key = float(alpha), float(beta), int(v), int(key)
        j = np.arange(1, self.v + 1, dtype=np.float64)
        data_var, target = j ** (-2 * self.alpha), j ** (-self.beta)
        # drawn row by row: the features of a smaller d are the first columns of a larger one
        w = np.random.default_rng(self.key).standard_normal((int(d), self.v)).T / math.sqrt(d)
        cov = (w * data_var[:, None]).T @ w
        eigs, vecs = np.linalg.eigh(cov)
        eigs, vecs = eigs[::-1], vecs[:, ::-1]
        proj = vecs.T @ (w.T @ (data_var * target))
        if eigs[-1] <= 0:
            raise ValueError(f"PowerLawRandomFeatures: the feature covariance is singular at "
                             f"v = {self.v}, d = {d} (K's smallest eigenvalue {eigs[-1]:.3g}); "
                             f"take v larger than d or alpha smaller")
        teacher = proj / eigs
        self.projection = jnp.asarray(w)
        self.spectrum, self.basis, self.teacher = jnp.asarray(eigs), jnp.asarray(vecs), jnp.asarray(teacher)
        self.noise_variance = jnp.asarray(max(float(np.sum(data_var * target**2) - proj @ teacher), 0.0))

    # ------------------------------------------------------------------ derived
    @property
    def d(self) -> int:
        """The model size d (number of random features)."""
        return self.spectrum.shape[0]

    def limit_loss(self) -> Array:
        """$\\sigma^2/2$: the loss of the best θ with these d features (t → ∞ at a vanishing rate)."""
        return 0.5 * self.noise_variance

    def least_squares(self) -> LinearRegression:
        """The exact least-squares problem in hild's scaled convention (module docstring)."""
        return LinearRegression(self.d * self.spectrum, self.teacher / math.sqrt(self.d),
                                jnp.sqrt(self.noise_variance))

    # ------------------------------------------------------------------ family hooks
    def initial_state(self, init=None) -> ModeMoments:
        """Per-mode moments $E[(\\theta - \\theta^*)_i^2]$ in hild's scaled units at t = 0."""
        return self.least_squares().initial_state(init)

    def divergence_floor(self) -> Array:
        return jnp.maximum(1.0, self.noise_variance)

    def parameter_groups(self) -> tuple[str, ...]:
        return ("weights",)

    def stability_limit(self, optimizer, method: str | None = None) -> Array | None:
        """The critical rate of least squares' exact recursion given W, which both methods
        are (docs/theory.md, Least squares: critical learning rate)."""
        return self.least_squares().stability_limit(optimizer, "exact")

    def metadata(self) -> dict:
        out = {"alpha": self.alpha, "beta": self.beta, "v": self.v, "key": self.key}
        if is_concrete(self.noise_variance):
            out["limit_loss"] = 0.5 * float(np.asarray(self.noise_variance))  # numpy: never traced
        return out

    def with_model_size(self, d: int, replica: int = 0) -> PowerLawRandomFeatures:
        """The same data and target learned with d features: W from the same key (nested
        features), or from key + replica (an independent draw)."""
        return PowerLawRandomFeatures(self.alpha, self.beta, self.v, d, (self.key + replica) % 2**32)

    def compute_optimal_exponents(self) -> dict:
        """The phase of (α, β) and the predicted exponents of d*(f) and P*(f) (module function
        `compute_optimal_exponents`; Paquette et al. 2024; docs/theory.md, Power-law random
        features)."""
        return compute_optimal_exponents(self.alpha, self.beta)

    def risk_label(self) -> str:
        """The y-axis label: the loss P = ½E[(θ·z − y)²] over the features z."""
        return "loss P = ½E[(θ·z − y)²]"

    @classmethod
    def bench_case(cls, quick: bool = False) -> BenchCase:
        """α = 1, β = 0.7 (phase II), v = 4d, γ = 0.2, B = 1: 1e5 samples at d = 500
        (quick: 1e4 at d = 100) with 16 seeds; the sweep over γ runs the Talbot method."""
        d, seeds, samples, points = (100, 8, 10_000, 100) if quick else (500, 16, 100_000, 1000)
        problem = cls(1.0, 0.7, 4 * d, d)
        gamma_c = float(critical_lr(problem.least_squares(), 1))
        return BenchCase(problem, SGD(0.2), {"t": samples / d, "num_points": 100},
                         {"seeds": seeds, "save_state": False}, "lr",
                         jnp.linspace(0.05, 0.9, points) * gamma_c,
                         {"t": samples / d, "num_points": 50, "spacing": "log"})

    def describe(self) -> str:
        return (f"power-law RF, α={self.alpha:g}, β={self.beta:g}, v={self.v}, d={self.d}")

    @classmethod
    def from_config(cls, table: Table) -> PowerLawRandomFeatures:
        """The fields of the constructor; `v` defaults to 4 d."""
        d = table.integer("d", low=1, high=INT32_MAX)
        v = table.integer("v", 4 * d, low=1, high=INT32_MAX)
        return cls(**read_fields(cls, table, cls.config_fields, d=d, v=v))


def _check_volterra(problem, optimizer, method: str) -> None:
    if method == "volterra":
        _volterra.check_plain_sgd(optimizer, "exact")


@register_theory(PowerLawRandomFeatures, SGD, check=_check_volterra)
def sgd_theory(problem: PowerLawRandomFeatures, optimizer: SGD, state: ModeMoments, method: str):
    """Least squares' recursion or closed form (its floor max(1, σ²) is this family's),
    the loss shifted by the capacity floor σ²/2."""
    floor = problem.limit_loss()
    if method == "exact":
        rec = linreg.sgd_theory(problem.least_squares(), optimizer, state, "exact")
        return rec._replace(observe=lambda c: _plus(rec.observe(c), floor), label="exact, given W")
    closed = closed_form(problem.least_squares(), optimizer, state, "exact")
    return closed._replace(at=lambda steps: _plus(closed.at(steps), floor),
                           label="Talbot inversion, exact at any step")


def _plus(obs: Observation, floor) -> Observation:
    return Observation(obs.risk + floor, obs.observables, obs.state)


__all__ = ["PowerLawRandomFeatures", "compute_optimal_exponents"]
