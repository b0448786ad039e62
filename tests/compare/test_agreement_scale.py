"""Relative deviations where theory is 0 (compare/agreement.py): measured against the curve's
scale, so agreement.json has a number wherever one exists."""

import numpy as np

from hild.compare.agreement import relative_deviation


def test_zero_theory_points_are_relative_to_the_curves_scale():
    theory = np.array([0.0, 0.5, 1.0, 0.25])
    diff = np.array([0.02, 0.05, -0.1, 0.0])
    np.testing.assert_allclose(relative_deviation(diff, theory), [0.02, 0.1, 0.1, 0.0])


def test_an_all_zero_theory_is_zero_where_the_runs_are_zero_too():
    rel = relative_deviation(np.array([0.0, 1e-3]), np.zeros(2))
    assert rel[0] == 0.0 and np.isinf(rel[1])
