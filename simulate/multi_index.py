r"""Multi-index models (committee machines) on anisotropic inputs at finite d: online SGD on
fresh $x = \sqrt\Lambda z$ in the eigenbasis (docs/theory.md, Anisotropic inputs).

The teacher is the problem's $W^* = \sqrt d\,\Theta^*$ (fixed); each seed draws its student
$w_k \sim N(0, \sigma_0^2 I_d)$ and its samples. The step is `CommitteeSimulation`'s (`jax.grad`
of ½ mean (f − y)² + κ‖W‖²/(2d), the second layer's gradient over d). The recorded risk is
the committee's risk at the measured aggregate overlaps (exact for Gaussian inputs).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from hild.theory import Observation
from hild.theory.multi_index import MultiIndex

from ._family import AbstractSimulation, Instance


class MultiIndexSimulation(AbstractSimulation):
    problem = MultiIndex

    fixed_dimension = "len(MultiIndex.spectrum)"

    def draw(self, problem: MultiIndex, key, d, dtype) -> Instance:
        k_student, k_data = jax.random.split(key)
        W = problem.init_scale.astype(dtype) * jax.random.normal(k_student, (problem.K, d), dtype)
        params = {"first_layer": W}
        v = problem.second_layer.astype(dtype)
        if problem.train_second_layer:
            params["second_layer"] = v
        fixed = (math.sqrt(d) * problem.teacher.astype(dtype), jnp.sqrt(problem.spectrum).astype(dtype),
                 v, problem.teacher_second_layer.astype(dtype), problem.noise.astype(dtype))
        return Instance(params, fixed, k_data)

    def sample(self, problem, fixed, key, batch):
        """Inputs $x = \\sqrt\\lambda\\,z$ (B, d) and the teacher's noisy labels y (B,)."""
        W_star, root_lam, _, v_star, noise = fixed
        d, dtype = W_star.shape[1], W_star.dtype
        kx, kn = jax.random.split(key)
        x = jax.random.normal(kx, (batch, d), dtype) * root_lam[None, :]
        act = problem.base.act
        return x, act(x @ W_star.T / math.sqrt(d)) @ v_star + noise * jax.random.normal(kn, (batch,), dtype)

    def loss(self, problem, fixed, params, sample):
        """½ mean (f(x) − y)² + κ‖W‖²/(2d)."""
        x, y = sample
        W = params["first_layer"]
        v = params.get("second_layer", fixed[2])
        d = x.shape[1]
        f = problem.base.act(x @ W.T / math.sqrt(d)) @ v
        return 0.5 * jnp.mean((f - y) ** 2) + 0.5 * problem.weight_decay.astype(W.dtype) * jnp.sum(W * W) / d

    def gradient_scale(self, problem, params):
        return {"second_layer": 1.0 / params["first_layer"].shape[1]}

    def observe(self, problem, fixed, params) -> Observation:
        v = params.get("second_layer", fixed[2])
        return problem.observe(problem.measure(params["first_layer"], v))


__all__ = ["MultiIndexSimulation"]
