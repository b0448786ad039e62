r"""GLMs on anisotropic inputs at finite d: online SGD on fresh $x = \sqrt\Lambda z$ in the
eigenbasis (docs/theory.md, Anisotropic inputs).

The teacher is the problem's $w^* = \sqrt d\,\theta^*$ (fixed, not drawn); each seed draws its
student $w \sim N(0, \sigma_0^2 I_d)$ and its samples. The step is `SingleIndexSimulation`'s
(η times `jax.grad` of the batch loss + κ‖w‖²/(2d)). The recorded risk is the population risk
of the measured per-eigenvalue overlaps (exact: it depends on w only through M and Q).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from hild.theory import Observation
from hild.theory.glm import GLM, GLMState

from ._family import AbstractSimulation, Instance


def group_sums(problem, values):
    """Σ over the coordinates of each group of equal eigenvalues, over d (last axis)."""
    groups = problem.group_eigs.shape[0]
    summed = jax.ops.segment_sum(jnp.moveaxis(values, -1, 0), problem.group_index,
                                 num_segments=groups)
    return jnp.moveaxis(summed, 0, -1) / values.shape[-1]


class GLMSimulation(AbstractSimulation):
    problem = GLM

    fixed_dimension = "len(GLM.spectrum)"

    def draw(self, problem: GLM, key, d, dtype) -> Instance:
        k_student, k_data = jax.random.split(key)
        teacher = math.sqrt(d) * problem.teacher.astype(dtype)
        w = problem.init_scale.astype(dtype) * jax.random.normal(k_student, (d,), dtype)
        fixed = (teacher, jnp.sqrt(problem.spectrum).astype(dtype), problem.noise.astype(dtype))
        return Instance({"weights": w}, fixed, k_data)

    def sample(self, problem, fixed, key, batch):
        """Inputs $x = \\sqrt\\lambda\\,z$ (B, d) and noisy labels y (B,)."""
        teacher, root_lam, noise = fixed
        kx, kn = jax.random.split(key)
        x = jax.random.normal(kx, (batch, teacher.shape[0]), teacher.dtype) * root_lam[None, :]
        y = problem.base.g(x @ teacher / math.sqrt(teacher.shape[0]))
        return x, y + noise * jax.random.normal(kn, (batch,), teacher.dtype)

    def loss(self, problem, fixed, params, sample):
        """The batch's mean loss (square or logistic) plus κ‖w‖²/(2d)."""
        x, y = sample
        w = params["weights"]
        d = x.shape[1]
        f = problem.base.sigma(x @ w / math.sqrt(d))
        data = 0.5 * (y - f) ** 2 if problem.loss == "square" else jax.nn.softplus(-y * f)
        return jnp.mean(data) + 0.5 * problem.weight_decay.astype(w.dtype) * (w @ w) / d

    def line_search_oracle(self, problem, fixed, params, sample):
        r"""(slope, curvature) at s = 0 of $s \mapsto E_{\rm batch}[R(w - s\hat g)]$: the slope
        $\nabla R\cdot\nabla L$ and the mean part $\nabla L^\top\nabla^2R\,\nabla L$ exactly
        (autodiff of the population risk at w), the noise part
        $\mathrm{tr}(\nabla^2R\,\mathrm{Cov}\,\hat g)$ at leading order in 1/d,
        $2\partial_QR\,E[\mathcal E^2]\,\overline{\lambda^2}/(Bd)$ (docs/theory.md, Anisotropic
        inputs: adaptive rates)."""
        w = params["weights"]
        d, batch = w.shape[0], sample[0].shape[0]
        risk = lambda w: self.observe(problem, fixed, {"weights": w}).risk
        grad_r = jax.grad(risk)(w)
        grad_l = grad_r + problem.weight_decay.astype(w.dtype) * w / d
        hvp = jax.jvp(jax.grad(risk), (w,), (grad_l,))[1]
        agg = problem.aggregate(self.observe(problem, fixed, params).state)
        dr_dq = jax.grad(problem.base.risk, argnums=1)(agg.m, agg.q)
        e2 = problem.base.expectations(agg.m, agg.q)[2]
        noise = 2 * dr_dq * e2 * jnp.mean(fixed[1] ** 4) / (batch * d)
        return grad_r @ grad_l, grad_l @ hvp + noise

    def observe(self, problem, fixed, params) -> Observation:
        teacher = fixed[0]
        w = params["weights"]
        return problem.observe(GLMState(group_sums(problem, w * teacher), group_sums(problem, w * w)))


__all__ = ["GLMSimulation"]
