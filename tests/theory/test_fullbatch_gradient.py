"""The full-batch "limit" method's gradient in every array field equals central finite
differences (issue 25: it was NaN through a truncated SVD of the two-resolvent kernels)."""

import equinox as eqx
import jax
import numpy as np
import pytest

import hild.theory as th

jax.config.update("jax_enable_x64", True)


def _power_law():
    d = 40
    lam = 1.0 / np.arange(1, d + 1)
    rng = np.random.default_rng(0)
    return (th.FullBatchRegression(lam * d / lam.sum(), 80, teacher=rng.standard_normal(d) / np.sqrt(d),
                                   noise=0.3, ridge=0.01, init=0.1 * rng.standard_normal(d)),
            th.SGD(0.03, momentum=0.3), 60)


@pytest.mark.slow
@pytest.mark.parametrize("field", ["spectrum", "teacher", "init", "noise", "ridge"])
def test_limit_gradient_matches_finite_differences(field):
    problem, optimizer, steps = _power_law()
    arrays, static = eqx.partition(problem, eqx.is_inexact_array)

    def risks(fields):
        curve = th.predict(eqx.combine(fields, static), optimizer, steps=steps, num_points=3,
                           save_state=False, method="limit")
        return curve.risk[-1] + curve.observables["train"][-1]

    leaf = getattr(arrays, field)
    direction = np.random.default_rng(1).standard_normal(np.shape(leaf))
    moved = lambda h: risks(eqx.tree_at(lambda a: getattr(a, field), arrays, leaf + h * direction))  # noqa: E731
    h = 1e-4
    finite_difference = (moved(h) - moved(-h)) / (2 * h)
    gradient = np.sum(np.asarray(getattr(jax.grad(risks)(arrays), field)) * direction)
    np.testing.assert_allclose(gradient, finite_difference, rtol=1e-5)
