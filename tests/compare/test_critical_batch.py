"""compare.tune.critical_batch: samples and steps to a target against B, and the knee."""

import numpy as np
import pytest

from hild import theory as th
from hild.compare import tune


def test_perfect_scaling_below_the_knee_and_stalled_steps_above():
    problem = th.LinearRegression(th.spectra.isotropic(40), noise=0.0)
    batches = [1, 2, 16, 256]
    res = tune.critical_batch(problem, th.SGD(1.0), batches, np.geomspace(0.2, 200, 24), 0.01,
                              budget=[10.0, 10.0, 20.0, 60.0], num_points=200)
    assert np.all(np.isfinite(res.samples)) and np.all(np.diff(res.steps) <= 0)
    assert res.samples[1] < 1.3 * res.samples[0]  # B << knee: samples about constant
    assert res.samples[-1] > 2.5 * res.samples[0]  # B >> knee: samples grow (measured 3.1x)
    assert 2 < res.knee < 256
    np.testing.assert_array_equal(res.steps, [problem.clock(th.SGD(1.0, batch=b)).steps_for(t)
                                              for b, t in zip(batches, res.samples)])


def test_unreachable_target_is_one_error():
    problem = th.LinearRegression(th.spectra.isotropic(20), noise=1.0)
    with pytest.raises(ValueError, match="no batch reaches the target"):
        tune.critical_batch(problem, th.SGD(1.0), [1, 4], [0.5, 1.0], 1e-6, budget=2.0)
