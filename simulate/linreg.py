r"""Least squares at finite d: online mini-batch SGD on fresh Gaussian samples.

Works in Σ's eigenbasis, the problem's input coordinates for a diagonal Σ (a problem built by
`LinearRegression.from_covariance` from another Σ is a rotation of its own, which only
rotation-invariant optimizers may run): $x = \sqrt{\lambda}\odot z$, $z \sim N(0, I_d)$,
$y = \theta^*\cdot x + \sigma\xi$. The mean gradient over B fresh samples in the scaled
parametrisation (docs/theory.md, Least squares: per-step size η/d) is $\hat g = \frac{1}{Bd}
\sum_b (\theta\cdot x_b - y_b)\,x_b$ (`jax.grad` of the batch loss over d; group "weights").
Memory O(B·d) per seed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hild.theory import LinearRegression, ModeMoments, Observation

from ._family import Instance, LeastSquares


class LinearRegressionSimulation(LeastSquares):
    problem = LinearRegression

    fixed_dimension = "the length of LinearRegression.spectrum"

    def draw(self, problem: LinearRegression, key, d, dtype) -> Instance:
        fixed = (jnp.sqrt(problem.spectrum.astype(dtype)), problem.teacher.astype(dtype),
                 problem.noise.astype(dtype))
        return Instance({"weights": problem.init.astype(dtype)}, fixed, key)

    def sample(self, problem, fixed, key, batch):
        """Inputs x (B, d) in the eigenbasis and labels y (B,)."""
        sqrt_lam, teacher, noise = fixed
        kx, kn = jax.random.split(key)
        x = jax.random.normal(kx, (batch, sqrt_lam.shape[0]), sqrt_lam.dtype) * sqrt_lam[None, :]
        return x, x @ teacher + noise * jax.random.normal(kn, (batch,), sqrt_lam.dtype)

    def rotated_basis(self, problem: LinearRegression) -> str | None:
        return ("the eigenbasis of the covariance given to LinearRegression.from_covariance"
                if problem.rotated else None)

    def line_search_oracle(self, problem, fixed, params, sample):
        r"""With $e = \theta - \theta^*$ and $\hat g = G/d$: slope $e^\top\Sigma^2 e/d$,
        curvature $[(1 + 1/B)e^\top\Sigma^3e + \mathrm{tr}(\Sigma^2)(e^\top\Sigma e +
        \sigma^2)/B]/d^2$ (Gaussian fourth moments; docs/theory.md, adaptive rates)."""
        sqrt_lam, teacher, noise = fixed
        batch, d = sample[0].shape
        lam, e = sqrt_lam**2, params["weights"] - teacher
        s1, s2, s3 = (jnp.sum(lam**p * e**2) for p in (1, 2, 3))
        curvature = (1 + 1 / batch) * s3 + jnp.sum(lam**2) * (s1 + noise**2) / batch
        return s2 / d, curvature / d**2

    def observe(self, problem, fixed, params) -> Observation:
        sqrt_lam, teacher, _ = fixed
        err2 = (params["weights"] - teacher) ** 2
        return Observation(0.5 * jnp.sum(sqrt_lam**2 * err2), {}, ModeMoments(err2))
