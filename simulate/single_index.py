r"""Single-index models at finite d: one neuron trained by online SGD on fresh Gaussian inputs.

Each step draws B inputs $x_b \sim N(0, I_d)$ and labels $y_b = g(w^*\cdot x_b/\sqrt d) +
\sigma\xi_b$; the mean gradient in the group "weights" is $-\frac{1}{B\sqrt d}\sum_b
\mathcal E_b x_b + \frac{\kappa}{d} w$ (docs/theory.md, Single-index models). The teacher is a
uniformly random direction with $\|w^*\|^2 = d$ exactly.

**Spherical runs** keep the unnormalised parameter $v$ and use $w = \sqrt d\, v/\|v\|$; the
gradient is taken at $w$ and multiplied by $\|v\|/\sqrt d$, so that after a plain SGD step
$v'/\|v'\| = (w - \eta\hat g)/\|w - \eta\hat g\|$: exactly projected SGD, without a
projection step in the optimizer.

**The recorded risk is exact**: it is the population risk of the measured (m, q), the same
function the theory uses; only the training trajectory is random.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from hild.theory import Observation
from hild.theory.single_index import SingleIndex, SingleIndexState

from ._family import AbstractSimulation, Instance, weights_at_overlaps


def _unit(key, d, dtype):
    u = jax.random.normal(key, (d,), dtype)
    return u / jnp.linalg.norm(u)


class SingleIndexSimulation(AbstractSimulation):
    problem = SingleIndex

    def dimension(self, problem, d):
        if d is None or d < 2:
            raise ValueError(f"d must be an integer >= 2 for the single-index simulation (got {d!r})")
        return d

    def draw(self, problem: SingleIndex, key, d, dtype) -> Instance:
        k_teacher, k_student, k_data = jax.random.split(key, 3)
        root_d = math.sqrt(d)
        teacher = root_d * _unit(k_teacher, d, dtype)
        if problem.init is None:
            w = problem.init_scale.astype(dtype) * jax.random.normal(k_student, (d,), dtype)
        else:
            m, q = (x.astype(dtype) for x in (problem.init.m, problem.init.q))
            w = weights_at_overlaps(k_student, teacher, m, q, dtype)
        if problem.spherical:
            w = root_d * w / jnp.linalg.norm(w)
        return Instance({"weights": w}, (teacher, problem.noise.astype(dtype)), k_data)

    def sample(self, problem, fixed, key, batch):
        """Inputs x (B, d) and noisy labels y (B,)."""
        teacher, noise = fixed
        kx, kn = jax.random.split(key)
        x = jax.random.normal(kx, (batch, teacher.shape[0]), teacher.dtype)
        y = problem.g(x @ teacher / math.sqrt(teacher.shape[0]))
        return x, y + noise * jax.random.normal(kn, (batch,), teacher.dtype)

    def _weights(self, problem, v):
        if not problem.spherical:
            return v, 1.0
        scale = jnp.linalg.norm(v) / math.sqrt(v.shape[0])
        return v / scale, scale

    def _loss_at(self, problem, w, sample):
        x, y = sample
        d = x.shape[1]
        f = problem.sigma(x @ w / math.sqrt(d))
        data = 0.5 * (y - f) ** 2 if problem.loss == "square" else jax.nn.softplus(-y * f)
        return jnp.mean(data) + 0.5 * problem.weight_decay.astype(w.dtype) * (w @ w) / d

    def loss(self, problem, fixed, params, sample):
        """The batch's mean loss at the weights w (square or logistic) plus κ‖w‖²/(2d)."""
        return self._loss_at(problem, self._weights(problem, params["weights"])[0], sample)

    def gradient(self, problem, fixed, params, sample):
        """`jax.grad` of the loss at w; on the sphere times ‖v‖/√d (module docstring)."""
        w, scale = self._weights(problem, params["weights"])
        return {"weights": scale * jax.grad(lambda w: self._loss_at(problem, w, sample))(w)}

    def observe(self, problem, fixed, params) -> Observation:
        teacher, _ = fixed
        w, _ = self._weights(problem, params["weights"])
        d = w.shape[0]
        state = SingleIndexState(w @ teacher / d, w @ w / d)
        return problem.observe(state)

    def metadata(self, problem, optimizer, d) -> dict:
        return {"init": "problem.init" if problem.init is not None else
                f"random (init_scale={float(problem.init_scale):g}, per seed)"}


__all__ = ["SingleIndexSimulation"]
