"""Least squares: the exact recursion against the real algorithm at finite d.

Three settings: isotropic; power-law spectrum with batch 8 and noise;
momentum 0.9 with a decaying schedule — each at d = 50 and d = 400, float64, the mean over
seeds within 3 standard errors of the recursion at every recorded step.

Seeds: the power-law risk across seeds is heavy-tailed at d = 50 (skewness 3–6, excess
kurtosis up to ~140 measured), which makes the normal SE of a few thousand seeds
unreliable (docs/theory.md, Agreement statistics); 20,000 seeds there (|z| ≤ 1.8 at 50,000 seeds: no model error).
"""

import jax
import numpy as np
import pytest

from hild import simulate
from hild import theory as th
from hild import agreement

POINTS = 12  # recorded steps, all of them compared


def isotropic(d):
    return th.LinearRegression(th.spectra.isotropic(d)), th.SGD(1.0), 4.0


def power_law(d):
    spec = th.spectra.power_law(d, 1.5)
    problem = th.LinearRegression(spec, th.spectra.power_law_teacher(spec, 1.2), noise=0.3)
    return problem, th.SGD(0.5 * float(th.critical_lr(problem, 8)), batch=8), 10.0


def momentum_schedule(d):
    problem = th.LinearRegression(th.spectra.marchenko_pastur(d, 0.5), noise=0.1)
    opt = th.SGD(th.schedules.polynomial(0.1, t0=2.0, power=1.0), batch=2, momentum=0.9)
    return problem, opt, 10.0


# The recursion is exact at every d; d = 50 with thousands of seeds is the strict check (heavy
# tails), d = 400 repeats it for each setting in the slow tier (docs/theory.md, Least squares).
@pytest.mark.parametrize("setting, d, seeds", [
    (isotropic, 50, 5000), pytest.param(power_law, 50, 20000, marks=pytest.mark.slow), (momentum_schedule, 50, 5000),
    *(pytest.param(s, 400, 200, marks=pytest.mark.slow) for s in (isotropic, power_law, momentum_schedule)),
])
def test_recursion_matches_simulation(setting, d, seeds):
    problem, opt, t = setting(d)
    theory_curve = th.predict(problem, opt, t=t, num_points=POINTS)
    sim = simulate.simulate(problem, opt, t=t, num_points=POINTS, seeds=seeds, key=7,
                            dtype="float64", save_state=False)
    np.testing.assert_array_equal(sim.step, theory_curve.step)
    report = agreement(theory_curve, sim)
    assert report.z.size == POINTS - 1  # every step but t = 0 (identical start, no spread)
    assert not report.theory_diverged and report.diverged_seeds == 0
    assert report.within(3.0), str(report)


def test_per_mode_moments_match(getkey):
    """The state (per-mode E[e_i^2]) agrees too, not just its λ-weighted sum."""
    problem, opt, t = power_law(30)
    theory_curve = th.predict(problem, opt, t=t, num_points=6)
    sim = simulate.simulate(problem, opt, t=t, num_points=6, seeds=4000, key=getkey(),
                            dtype="float64")
    a = np.asarray(sim.state.a)[:, 1:]  # (seeds, T-1, d)
    z = (a.mean(0) - np.asarray(theory_curve.state.a)[1:]) / (a.std(0, ddof=1) / np.sqrt(a.shape[0]))
    # 5 times x 30 modes = 150 correlated z-scores: allow the 4-SE tail
    assert np.max(np.abs(z)) < 4.0


def test_same_key_same_output():
    problem, opt, t = power_law(40)
    kwargs = dict(t=2.0, num_points=5, seeds=3)
    a = simulate.simulate(problem, opt, key=jax.random.key(3), **kwargs)
    b = simulate.simulate(problem, opt, key=jax.random.key(3), **kwargs)
    c = simulate.simulate(problem, opt, key=jax.random.key(4), **kwargs)
    np.testing.assert_array_equal(a.risk, b.risk)
    np.testing.assert_array_equal(a.state.a, b.state.a)
    assert not np.array_equal(a.risk, c.risk)


def test_dtype_default_float32_and_float64_on_request():
    problem, opt, _ = isotropic(20)
    assert simulate.simulate(problem, opt, t=1.0, num_points=3, seeds=2, key=0).risk.dtype == np.float32
    assert simulate.simulate(problem, opt, t=1.0, num_points=3, seeds=2, key=0,
                             dtype="float64").risk.dtype == np.float64


def test_simulation_divergence_is_reported_not_nan():
    problem = th.LinearRegression(th.spectra.isotropic(30))
    eta = 1.5 * float(th.critical_lr(problem, 1))
    sim = simulate.simulate(problem, th.SGD(eta), t=60.0, num_points=20, seeds=4, key=1)
    assert np.all(np.asarray(sim.diverged))
    steps = np.asarray(sim.diverged_step)
    assert np.all(steps > 0)
    risk = np.asarray(sim.risk)
    assert not np.any(np.isnan(risk))
    for seed in range(4):
        after = np.asarray(sim.step) >= steps[seed]
        assert np.all(np.isinf(risk[seed, after])) and np.all(np.isfinite(risk[seed, ~after]))


def test_simulation_records_the_theory_grid():
    problem, opt, _ = power_law(64)
    for kwargs in (dict(steps=100), dict(t=3.0)):
        th_curve = th.predict(problem, opt, num_points=9, spacing="log", **kwargs)
        sim = simulate.simulate(problem, opt, num_points=9, spacing="log", seeds=2, key=0, **kwargs)
        np.testing.assert_array_equal(sim.step, th_curve.step)
        np.testing.assert_allclose(sim.t, th_curve.t)


@pytest.mark.parametrize("kwargs, match", [
    (dict(seeds=1), "seeds must be an integer >= 2"),
    (dict(d=7), "d must equal the length"),
    (dict(dtype="float16"), "dtype must be one of"),
    (dict(num_points=1), "num_points must be an integer >= 2"),
])
def test_bad_simulation_arguments(kwargs, match):
    problem, opt, _ = isotropic(10)
    args = dict(t=1.0, seeds=2, key=0) | kwargs
    with pytest.raises(ValueError, match=match):
        simulate.simulate(problem, opt, **args)
