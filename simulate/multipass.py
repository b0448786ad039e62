r"""Multi-pass SGD at finite d: real mini-batch SGD over a sampled training set per seed.

Each seed draws one training set (X, y) with `theory.fullbatch.draw_dataset` (the data sets
`predict(method="exact", seed=key)` averages over) and runs SGD on the rows of
$\frac{1}{2n}\|X\theta - y\|^2 + \frac\rho2\|\theta\|^2$ at per-step size η/d (docs/theory.md,
Multi-pass SGD): the gradient is `jax.grad` of the batch's
$\frac{1}{2B}\sum_b(x_b\cdot\theta - y_b)^2 + \frac\rho2\|\theta\|^2$, over d. Step k's rows
are drawn with replacement, or are the positions kB .. kB + B - 1 of the stream of epochs
(a fresh permutation per epoch for "reshuffle", 0..n-1 for "cyclic"). Observed: the exact
population (test) risk and the train risk $\frac{1}{2n}\|X\theta - y\|^2$.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hild.theory.fullbatch import draw_dataset
from hild.theory.multipass import MultiPassRegression

from ._family import Instance, LeastSquares
from .fullbatch import FullBatchSimulation


class MultiPassSimulation(LeastSquares):
    problem = MultiPassRegression

    fixed_dimension = "the length of MultiPassRegression.spectrum"

    def draw(self, problem: MultiPassRegression, key, d, dtype) -> Instance:
        x, y = draw_dataset(problem, key, dtype)
        fixed = (x, y, problem.spectrum.astype(dtype), problem.teacher.astype(dtype))
        return Instance({"weights": problem.init.astype(dtype)}, fixed, jax.random.fold_in(key, 1))

    def sample_at(self, problem, fixed, data_key, step, batch):
        """Rows of step `step`: with replacement, or positions of the epoch stream."""
        x, y = fixed[0], fixed[1]
        n = x.shape[0]
        if problem.sampling == "replacement":
            rows = jax.random.randint(jax.random.fold_in(data_key, step), (batch,), 0, n)
        else:
            position = step * batch + jnp.arange(batch)
            rows = position % n
            if problem.sampling == "reshuffle":
                epochs = position // n
                order = jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(data_key, e), n))
                # a batch spans at most two epochs: permute each once
                perms = order(jnp.stack([epochs[0], epochs[-1]]))
                rows = jnp.where(epochs == epochs[0], perms[0][rows], perms[1][rows])
        return x[rows], y[rows]

    def loss(self, problem, fixed, params, sample):
        r"""The batch's ridge objective $\frac{1}{2B}\sum_b (x_b\cdot\theta - y_b)^2 +
        \frac\rho2\|\theta\|^2$."""
        x, y = sample
        return FullBatchSimulation.loss(self, problem, (x, y, None, None), params, None)

    observe = FullBatchSimulation.observe  # the population (test) risk and the train risk
