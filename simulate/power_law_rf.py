r"""Power-law random features at finite v and d: one-pass SGD on fresh samples of the real
model, $x \sim N(0, \mathrm{diag}(j^{-2\alpha}))$ in $\mathbb{R}^v$, features $z = W^\top x$
with the problem's own W, label $y = b\cdot x$ (no eigenbasis, no Gaussian reduction: that is
what the theory's reduction is checked against). Parametrised as least squares
(docs/theory.md, Least squares): inputs $\sqrt d\,z$, weights $\theta/\sqrt d$, so SGD's
rate is the paper's γ. Memory O(B·v + v·d) per seed; a step costs O(B·v·d).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from hild.theory import ModeMoments, Observation, PowerLawRandomFeatures

from ._family import Instance, LeastSquares


class PowerLawRandomFeaturesSimulation(LeastSquares):
    problem = PowerLawRandomFeatures

    fixed_dimension = "PowerLawRandomFeatures.d"

    def draw(self, problem: PowerLawRandomFeatures, key, d, dtype) -> Instance:
        j = np.arange(1, problem.v + 1, dtype=np.float64)
        lsq = problem.least_squares()  # the scaled spectrum and teacher, in K's eigenbasis
        fixed = (jnp.asarray(j ** -problem.alpha, dtype), jnp.asarray(j ** -problem.beta, dtype),
                 (math.sqrt(problem.d) * problem.projection).astype(dtype), problem.basis.astype(dtype),
                 lsq.teacher.astype(dtype), lsq.spectrum.astype(dtype),
                 problem.limit_loss().astype(dtype))
        return Instance({"weights": jnp.zeros(problem.d, dtype)}, fixed, key)

    def sample(self, problem, fixed, key, batch):
        """Scaled features $\\sqrt d\\,W^\\top x$ (B, d) and labels $b\\cdot x$ (B,)."""
        data_sd, target, features = fixed[:3]
        x = jax.random.normal(key, (batch, data_sd.shape[0]), data_sd.dtype) * data_sd[None, :]
        return x @ features, x @ target

    def observe(self, problem, fixed, params) -> Observation:
        """The population loss $\\tfrac12\\sum_i d\\lambda_i e_i^2 + \\sigma^2/2$, e in K's
        eigenbasis (exact given W), and the per-mode $e_i^2$."""
        basis, teacher, lam, floor = fixed[3:]
        err2 = (basis.T @ params["weights"] - teacher) ** 2
        return Observation(0.5 * jnp.sum(lam * err2) + floor, {}, ModeMoments(err2))
