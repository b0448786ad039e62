"""The linear-noise expansion (theory/fluctuations.py) against the spread of simulated runs."""

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

from hild import simulate  # noqa: E402
from hild import theory as th  # noqa: E402
from hild.theory.fluctuations import fluctuations, spread_score  # noqa: E402
from hild.theory.single_index import SingleIndex  # noqa: E402


def test_single_index_spread_matches_runs():
    """Measured/predicted std of the risk within 3 SE of 1 at every checkpoint (random start:
    the initial covariance and the SGD noise both enter)."""
    problem, opt = SingleIndex("erf", noise=0.2, quadrature=16), th.SGD(0.5)
    sim = simulate(problem, opt, t=4.0, num_points=4, d=100, seeds=192, key=3, dtype="float64")
    spread = fluctuations(problem, opt, d=100, save_at=np.asarray(sim.t))
    score = spread_score(sim, spread)
    assert score.ratio.size == 3  # t > 0
    z = (score.ratio - 1) / score.ratio_se
    assert np.max(np.abs(z)) < 3, (score.ratio, score.ratio_se)
    # the noise term matters: without D the predicted spread at t = 4 is off by far more
    m_std = np.sqrt(spread.state_cov[-1, 0, 0])
    assert abs(np.std(np.asarray(sim.state.m)[:, -1], ddof=1) / m_std - 1) < 0.2


def test_spread_scales_as_one_over_root_d():
    problem, opt = SingleIndex("erf", noise=0.2, quadrature=16), th.SGD(0.5)
    a = fluctuations(problem, opt, d=100, t=4.0, num_points=4)
    b = fluctuations(problem, opt, d=400, t=4.0, num_points=4)
    np.testing.assert_allclose(a.risk_std / b.risk_std, 2.0, rtol=1e-4)
    np.testing.assert_allclose(a.risk, b.risk, rtol=1e-7)


def test_bad_input_names_the_field():
    problem, opt = SingleIndex("erf", quadrature=16), th.SGD(0.5)
    with pytest.raises(ValueError, match="^d must"):
        fluctuations(problem, opt, d=0, t=1.0)
    with pytest.raises(ValueError, match="init_covariance must have shape"):
        fluctuations(problem, opt, d=10, t=1.0, init_covariance=np.eye(3))
    with pytest.raises(TypeError, match="increment_covariance"):
        fluctuations(th.LinearRegression(np.ones(10)), opt, d=10, t=1.0)
