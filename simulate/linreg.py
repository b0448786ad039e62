r"""Least squares at finite d: online mini-batch SGD on fresh Gaussian samples.

Works in Σ's eigenbasis: $x = \sqrt{\lambda}\odot z$, $z \sim N(0, I_d)$, $y = \theta^*\cdot x +
\sigma\xi$. The mean gradient over B fresh samples in the scaled parametrisation
(docs/theory.md, Least squares: per-step size η/d) is $\hat g = \frac{1}{Bd}\sum_b (\theta\cdot
x_b - y_b)\,x_b$, the parameter group "weights". Memory O(B·d) per seed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from theory import LinearRegression, ModeMoments, Observation

from ._family import AbstractSimulation, Instance


class LinearRegressionSimulation(AbstractSimulation):
    problem = LinearRegression

    def dimension(self, problem: LinearRegression, d):
        if d is not None and d != problem.d:
            raise ValueError(f"d must equal the length of LinearRegression.spectrum ({problem.d}) "
                             f"or be None (got {d})")
        return problem.d

    def draw(self, problem: LinearRegression, key, d, dtype) -> Instance:
        fixed = (jnp.sqrt(problem.spectrum.astype(dtype)), problem.teacher.astype(dtype),
                 problem.noise.astype(dtype))
        return Instance({"weights": problem.init.astype(dtype)}, fixed, key)

    def gradient(self, problem, fixed, params, key, batch):
        sqrt_lam, teacher, noise = fixed
        d = sqrt_lam.shape[0]
        dtype = sqrt_lam.dtype
        kx, kn = jax.random.split(key)
        x = jax.random.normal(kx, (batch, d), dtype) * sqrt_lam[None, :]
        y = x @ teacher + noise * jax.random.normal(kn, (batch,), dtype)
        theta = params["weights"]
        return {"weights": x.T @ (x @ theta - y) / (batch * d)}

    def observe(self, problem, fixed, params) -> Observation:
        sqrt_lam, teacher, _ = fixed
        err2 = (params["weights"] - teacher) ** 2
        return Observation(0.5 * jnp.sum(sqrt_lam**2 * err2), {}, ModeMoments(err2))
