"""Toy family, simulation: the real SGD on fresh Gaussian samples (see `hild_toy.theory`);
the gradient is `jax.grad` of the batch loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hild.simulate import AbstractSimulation, Instance
from hild.theory import Observation

from .theory import NoisyQuadratic, ToyState


class NoisyQuadraticSimulation(AbstractSimulation):
    problem = NoisyQuadratic

    def draw(self, problem, key, d, dtype):
        return Instance({"weights": jnp.zeros(d, dtype)}, problem.noise.astype(dtype), key)

    def sample(self, problem, noise, key, batch):
        return jax.random.normal(key, (batch, problem.d), noise.dtype).mean(axis=0)

    def loss(self, problem, noise, params, z):
        """$\\frac{1}{2d}\\|w - w^* - \\sigma\\bar z\\|^2$ (its gradient is the batch's mean)."""
        w = params["weights"]
        return 0.5 * jnp.sum((w - 1.0 - noise * z) ** 2) / w.shape[0]

    def observe(self, problem, noise, params):
        e = params["weights"] - 1.0
        a = jnp.mean(e**2)
        return Observation(0.5 * a, {"overlap": jnp.mean(params["weights"])},
                           ToyState(a, -jnp.mean(e)))
