r"""Full-batch GD at finite d: real gradient descent on a sampled training set per seed.

Each seed draws one training set (X, y) with `theory.fullbatch.draw_dataset` (n × d, stored:
this family has a fixed data set) and runs GD on $\frac{1}{2n}\|X\theta - y\|^2 +
\frac\rho2\|\theta\|^2$, the gradient $X^\top(X\theta - y)/n + \rho\theta$ (`jax.grad` of that
objective; docs/theory.md, Full-batch GD). Observed: the exact population (test) risk $\tfrac12\sum_i\lambda_i(\theta -
\theta^*)_i^2$ as the risk, and the train risk $\frac{1}{2n}\|X\theta - y\|^2$.
"""

from __future__ import annotations

import jax.numpy as jnp

from hild.theory import Observation
from hild.theory.fullbatch import FullBatchRegression, draw_dataset

from ._family import AbstractSimulation, Instance


class FullBatchSimulation(AbstractSimulation):
    problem = FullBatchRegression

    fixed_dimension = "the length of FullBatchRegression.spectrum"

    def draw(self, problem: FullBatchRegression, key, d, dtype) -> Instance:
        x, y = draw_dataset(problem, key, dtype)
        fixed = (x, y, problem.spectrum.astype(dtype), problem.teacher.astype(dtype))
        return Instance({"weights": problem.init.astype(dtype)}, fixed, key)

    def sample(self, problem, fixed, key, batch):
        """Nothing fresh: every step uses the stored training set."""
        return jnp.zeros((0,), fixed[0].dtype)

    def loss(self, problem, fixed, params, sample):
        r"""The training objective $\frac{1}{2n}\|X\theta - y\|^2 + \frac\rho2\|\theta\|^2$ (its
        `jax.grad` is GD's step direction)."""
        x, y, _, _ = fixed
        theta = params["weights"]
        return 0.5 * jnp.mean((x @ theta - y) ** 2) + 0.5 * problem.ridge.astype(x.dtype) * theta @ theta

    def observe(self, problem, fixed, params) -> Observation:
        x, y, lam, teacher = fixed
        theta = params["weights"]
        test = 0.5 * jnp.sum(lam * (theta - teacher) ** 2)
        train = 0.5 * jnp.mean((x @ theta - y) ** 2)
        return Observation(test, {"train": train}, None)
