"""The escape-time law (theory/escape.py) and the large-batch map (theory/large_batch.py):
closed forms and limits (the simulations: scripts/validate_escape_distribution.py,
scripts/validate_large_batch.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

from hild import theory as th  # noqa: E402
from hild.theory.escape import escape_noise_starts, escape_times  # noqa: E402
from hild.theory.large_batch import map_critical_lr, overlap_map  # noqa: E402
from hild.theory.single_index import SingleIndex, SingleIndexState  # noqa: E402

EQUATOR = SingleIndexState(jnp.asarray(0.0), jnp.asarray(1.0))


def test_phase_retrieval_rate_noise_and_quantiles():
    """a = 4η(1 − 6η), D0 = 48η² (docs/theory.md); quantiles invert the cdf; slope 1/(2a)."""
    eta = 0.05
    problem = SingleIndex("quadratic", spherical=True, quadrature=16)
    law = escape_times(problem, th.SGD(eta), d=1000, fixed_point=EQUATOR)
    assert law.rate == pytest.approx(4 * eta * (1 - 6 * eta), rel=1e-9)
    assert law.noise == pytest.approx(48 * eta**2, rel=1e-3)  # 16-node polar rule
    assert law.start_variance == pytest.approx(1.0)
    q = law.quantile([0.25, 0.5, 0.75])
    np.testing.assert_allclose(law.cdf(q), [0.25, 0.5, 0.75], atol=1e-12)
    wider = law._replace(d=4000)
    np.testing.assert_allclose(wider.quantile(0.5) - law.quantile(0.5), np.log(4) * law.slope)
    # the ODE part: T_eps shifts by log(10)/a when eps shrinks tenfold, tau does not move
    small = escape_times(problem, th.SGD(eta), d=1000, fixed_point=EQUATOR, eps=1e-7)
    assert small.quantile(0.5) == pytest.approx(law.quantile(0.5), abs=2e-3)
    starts = escape_noise_starts(problem, th.SGD(eta), SingleIndexState(jnp.zeros(4000), jnp.ones(4000)),
                                 d=1000, fixed_point=EQUATOR, key=jax.random.key(0))
    var = float(np.var(np.asarray(starts.m)) * 1000)
    assert var == pytest.approx(law.noise / (2 * law.rate), rel=0.1)
    np.testing.assert_allclose(np.asarray(starts.q), 1.0)


def test_escape_refuses_what_it_does_not_cover():
    problem = SingleIndex("quadratic", spherical=True, quadrature=16)
    with pytest.raises(ValueError, match="not a fixed point"):
        escape_times(problem, th.SGD(0.05), d=100,
                     fixed_point=SingleIndexState(jnp.asarray(0.3), jnp.asarray(1.0)))
    with pytest.raises(ValueError, match="not unstable"):   # η > 1/6: the equator is stable
        escape_times(problem, th.SGD(0.2), d=100, fixed_point=EQUATOR)
    with pytest.raises(ValueError, match="^eps must"):
        escape_times(problem, th.SGD(0.05), d=100, fixed_point=EQUATOR, eps=0.5)


def test_map_tends_to_the_ode_and_has_the_batch_critical_rate():
    problem = SingleIndex("relu", noise=0.1, quadrature=16)
    d, batch = 1000, 10                                    # κ = 0.01
    opt = th.SGD(1.0 * batch, batch=batch)
    mp = overlap_map(problem, opt, d=d, steps=200)
    ode = th.predict(problem, opt, t=float(mp.t[-1]), save_at=mp.t)
    np.testing.assert_allclose(mp.risk, np.asarray(ode.risk), rtol=2e-2)
    linear = SingleIndex("linear")
    for kappa in (1.0, 4.0):
        B = int(kappa * 100)
        crit = map_critical_lr(B, 100)
        assert crit == pytest.approx(2 * B / (1 + kappa))
        below = overlap_map(linear, th.SGD(0.95 * crit, batch=B), d=100, steps=300)
        above = overlap_map(linear, th.SGD(1.05 * crit, batch=B), d=100, steps=300)
        assert below.risk[-1] < 1e-3 and not np.isfinite(above.risk[-1]) or above.risk[-1] > 1e3
    with pytest.raises(ValueError, match="momentum 0"):
        overlap_map(linear, th.SGD(1.0, momentum=0.5), d=100, steps=3)
