r"""Two Gaussian clusters at finite d: a linear classifier with a bias trained by online SGD.

Each step draws B labels ($y = +1$ with probability ρ) and inputs $x = y\mu/\sqrt d + \sqrt\Delta
z$; with $\varphi = \omega_y y\,\psi(y\lambda)$, $\lambda = w\cdot x/\sqrt d + b$, the mean gradients
are $-\frac{1}{B\sqrt d}\sum_b\varphi_b x_b$ (group "weights") and $-\frac{1}{Bd}\sum_b\varphi_b$
(group "bias"; docs/theory.md, Gaussian mixtures). The mean direction μ is uniformly random
with $\|\mu\|^2 = d$ exactly.

**The recorded observables are exact**: the test loss and the per-class test errors are
functions of the measured (m, q, b) (the margin of a fresh point of class y is Gaussian).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from hild.theory import Observation
from hild.theory.gaussian_mixture import GaussianMixture, MixtureState, margin_loss

from ._family import AbstractSimulation, Instance, weights_at_overlaps


class GaussianMixtureSimulation(AbstractSimulation):
    problem = GaussianMixture

    def dimension(self, problem, d):
        if d is None or d < 2:
            raise ValueError(f"d must be an integer >= 2 for the Gaussian-mixture simulation (got {d!r})")
        return d

    def draw(self, problem: GaussianMixture, key, d, dtype) -> Instance:
        k_mean, k_student, k_data = jax.random.split(key, 3)
        mu = jax.random.normal(k_mean, (d,), dtype)
        mu = math.sqrt(d) * mu / jnp.linalg.norm(mu)
        if problem.init is None:
            w = problem.init_scale.astype(dtype) * jax.random.normal(k_student, (d,), dtype)
            b = jnp.zeros((), dtype)
        else:
            m, q, b = (x.astype(dtype) for x in (problem.init.m, problem.init.q, problem.init.b))
            w = weights_at_overlaps(k_student, mu, m, q, dtype)
        fixed = (mu, problem.rho.astype(dtype), problem.delta.astype(dtype),
                 problem.class_weights.astype(dtype))
        return Instance({"weights": w, "bias": b}, fixed, k_data)

    def sample(self, problem, fixed, key, batch):
        """Inputs x (B, d) and labels y (B,) in {+1, −1}."""
        mu, rho, delta, _ = fixed
        ky, kz = jax.random.split(key)
        y = jnp.where(jax.random.uniform(ky, (batch,), mu.dtype) < rho, 1.0, -1.0).astype(mu.dtype)
        z = jax.random.normal(kz, (batch, mu.shape[0]), mu.dtype)
        return y[:, None] * mu[None, :] / math.sqrt(mu.shape[0]) + jnp.sqrt(delta) * z, y

    def loss(self, problem, fixed, params, sample):
        """The batch's mean ω_y ℓ(yλ), λ = w·x/√d + b."""
        x, y = sample
        lam = x @ params["weights"] / math.sqrt(x.shape[1]) + params["bias"]
        omega = jnp.where(y > 0, fixed[3][0], fixed[3][1])
        return jnp.mean(omega * margin_loss(problem.loss, y * lam))

    def gradient_scale(self, problem, params):
        return {"bias": 1.0 / params["weights"].shape[0]}

    def observe(self, problem, fixed, params) -> Observation:
        mu = fixed[0]
        w, d = params["weights"], fixed[0].shape[0]
        return problem.observe(MixtureState(w @ mu / d, w @ w / d, params["bias"]))

    def metadata(self, problem, optimizer, d) -> dict:
        return {"init": "problem.init" if problem.init is not None else
                f"random (init_scale={float(problem.init_scale):g}, per seed)"}


__all__ = ["GaussianMixtureSimulation"]
