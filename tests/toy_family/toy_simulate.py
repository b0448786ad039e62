"""Toy family, simulation: the real SGD on fresh Gaussian samples (see toy_theory)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from simulate import AbstractSimulation, Instance
from theory import Observation

from .toy_theory import NoisyQuadratic, ToyState


class NoisyQuadraticSimulation(AbstractSimulation):
    problem = NoisyQuadratic

    def dimension(self, problem, d):
        if d is not None and d != problem.d:
            raise ValueError(f"d must equal NoisyQuadratic.d ({problem.d}) or be None (got {d})")
        return problem.d

    def draw(self, problem, key, d, dtype):
        return Instance({"weights": jnp.zeros(d, dtype)}, problem.noise.astype(dtype), key)

    def sample(self, problem, noise, key, batch):
        return jax.random.normal(key, (batch, problem.d), noise.dtype).mean(axis=0)

    def gradient(self, problem, noise, params, z):
        w = params["weights"]
        return {"weights": (w - 1.0 - noise * z) / w.shape[0]}

    def observe(self, problem, noise, params):
        e = params["weights"] - 1.0
        a = jnp.mean(e**2)
        return Observation(0.5 * a, {"overlap": jnp.mean(params["weights"])},
                           ToyState(a, -jnp.mean(e)))
