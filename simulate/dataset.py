r"""Least squares on a real data set: SGD on the data set's rows, drawn with replacement.

Each step draws B row indices uniformly from 0..n-1 and takes the mean gradient of
$\tfrac12(\theta\cdot x - y)^2$ over those rows, in the input basis (the preprocessed
features of `DataSetRegression`), in the scaled parametrisation of docs/theory.md, Real data
(per-step size η/d): $\hat g = \frac{1}{Bd}\sum_b(\theta\cdot x_b - y_b)\,x_b$ (`jax.grad` of the
batch loss over d). The risk
is exact for the data set: $\tfrac12\sum_i\lambda_i (V^\top(\theta - \theta^*))_i^2$, the
per-mode squared errors are the recorded state. Memory: the data set once, O(B·d) per step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hild.theory import DataSetRegression, ModeMoments, Observation

from ._family import Instance, LeastSquares


class DataSetSimulation(LeastSquares):
    problem = DataSetRegression

    fixed_dimension = "the number of features of the data set"

    def draw(self, problem: DataSetRegression, key, d, dtype) -> Instance:
        basis = problem.basis.astype(dtype)
        fixed = (problem.features.astype(dtype), problem.targets.astype(dtype), basis,
                 basis @ problem.teacher.astype(dtype), problem.spectrum.astype(dtype))
        return Instance({"weights": basis @ problem.init.astype(dtype)}, fixed, key)

    def sample(self, problem, fixed, key, batch):
        """B rows drawn uniformly with replacement: inputs (B, d) and targets (B,)."""
        features, targets = fixed[0], fixed[1]
        rows = jax.random.randint(key, (batch,), 0, features.shape[0])
        return features[rows], targets[rows]

    def observe(self, problem, fixed, params) -> Observation:
        _, _, basis, teacher, spectrum = fixed
        err2 = (basis.T @ (params["weights"] - teacher)) ** 2
        return Observation(0.5 * jnp.sum(spectrum * err2), {}, ModeMoments(err2))
