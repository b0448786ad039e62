"""Nesterov, ASGD and iterate averaging on least squares: the exact block recursion against
closed forms, the stability gain, simulation at d = 50, and bad input.
(docs/theory.md, Least squares: more optimizers; the d = 400 study is
scripts/validate_accelerated.py.)"""

import numpy as np
import pytest

from hild import simulate
from hild import theory as th
from hild.theory import _linear_methods as lm
from hild.theory.linreg import _block_recursion


def power_law(d, noise=0.3):
    spec = th.spectra.power_law(d, 1.5)
    return th.LinearRegression(spec, th.spectra.power_law_teacher(spec, 1.2), noise=noise)


def run_block(problem, optimizer, steps):
    rec = _block_recursion(problem, optimizer, problem.initial_state())
    M = rec.init
    for k in range(steps):
        M = rec.step(M, k)
    return float(rec.observe(M).risk)


def test_block_recursion_reproduces_heavy_ball():
    problem, opt = power_law(30), th.SGD(0.7, batch=3, momentum=0.6)
    curve = th.predict(problem, opt, steps=80, num_points=2)
    np.testing.assert_allclose(run_block(problem, opt, 80), curve.risk[-1], rtol=1e-11)


def test_asgd_with_alpha_one_is_sgd_and_averaging_before_start_is_the_iterate():
    problem = power_law(20)
    sgd = th.predict(problem, th.SGD(0.9, batch=2), steps=60, num_points=7)
    asgd = th.predict(problem, th.ASGD(0.9, 5.0, 1.0, 0.3, batch=2), steps=60, num_points=7)
    late = th.predict(problem, th.Averaged(th.SGD(0.9, batch=2), start=100.0), steps=60, num_points=7)
    np.testing.assert_allclose(asgd.risk, sgd.risk, rtol=1e-11)
    np.testing.assert_allclose(late.risk, sgd.risk, rtol=1e-11)


def test_polyak_ruppert_on_one_noiseless_deterministic_mode():
    """d = 1, B huge: e_k = (1-γλ)^k e_0 and the mean of e_0..e_k is a geometric sum."""
    lam, eta, steps = 1.0, 0.5, 12
    problem = th.LinearRegression([lam], teacher=[1.0])
    batch = 10**9
    curve = th.predict(problem, th.Averaged(th.SGD(eta, batch=batch)), steps=steps,
                       num_points=steps + 1)
    r = 1 - eta * lam
    k = np.arange(steps + 1)
    mean = (1 - r ** (k + 1)) / ((1 - r) * (k + 1))
    np.testing.assert_allclose(curve.risk, 0.5 * lam * mean**2, rtol=1e-7)


def test_stability_gain_matches_critical_lr_and_bounds_nesterov():
    problem = power_law(40, noise=0.0)
    eta_c = float(th.critical_lr(problem, 4))
    np.testing.assert_allclose(th.critical_rate(problem, th.SGD(1.0, batch=4)), eta_c, rtol=1e-9)
    nest = th.Nesterov(1.0, batch=4, momentum=0.8)
    limit = th.critical_rate(problem, nest)
    assert float(problem.stability_limit(nest)) == pytest.approx(limit)
    below = th.predict(problem, th.Nesterov(0.97 * limit, 4, 0.8), steps=20_000, num_points=3)
    above = th.predict(problem, th.Nesterov(1.03 * limit, 4, 0.8), steps=20_000, num_points=3)
    assert not bool(below.diverged) and bool(above.diverged)


def test_nesterov_ode_is_the_small_step_limit():
    problem = th.LinearRegression(th.spectra.isotropic(500))
    opt = th.Nesterov(0.2, batch=1, momentum=0.5)
    rec = th.predict(problem, opt, t=3.0, num_points=4)
    ode = th.predict(problem, opt, t=3.0, num_points=4, method="limit")
    np.testing.assert_allclose(ode.risk, rec.risk, rtol=4e-3)  # O(1/d)


SETTINGS = [  # each averaged run checks its base's moments too (the mean is built from them)
    th.Averaged(th.ASGD(0.6, 3.0, 0.25, 0.05, batch=4), start=2.0),
    th.Averaged(th.Nesterov(0.4, batch=4, momentum=0.5)),
]


@pytest.mark.parametrize("opt", SETTINGS, ids=lambda o: o.describe())
def test_recursion_matches_simulation_d50(opt):
    problem, t, points = power_law(50), 6.0, 8
    theory_curve = th.predict(problem, opt, t=t, num_points=points)
    sim = simulate.simulate(problem, opt, t=t, num_points=points, seeds=400, key=11,
                            dtype="float64", save_state=False)
    z = (sim.mean() - theory_curve.risk)[1:] / sim.stderr()[1:]
    assert np.all(np.abs(z) < 3.5), np.round(z, 2)


def test_round_trip_and_config_errors():
    for opt in [*SETTINGS, th.Nesterov(0.6, batch=4, momentum=0.7), th.Averaged(th.SGD(1.5))]:
        table = th.Table(opt.to_config(), "optimizer")
        assert th.optimizer_from_config(table).to_config() == opt.to_config()
    bad = {"kind": "averaged", "base": {"kind": "nesterov", "lr": 1.0, "momentum": 1.2}}
    with pytest.raises(ValueError, match=r"Nesterov.momentum must be in \[0, 1\)"):
        th.optimizer_from_config(th.Table(bad, "optimizer"))
    with pytest.raises(ValueError, match="optimizer.base: missing required table"):
        th.optimizer_from_config(th.Table({"kind": "averaged"}, "optimizer"))


def test_bad_settings_name_the_field_or_the_pair():
    with pytest.raises(ValueError, match="Averaged.start must be >= 0"):
        th.Averaged(th.SGD(1.0), start=-1.0)
    with pytest.raises(ValueError, match=r"ASGD.alpha must be in \(0, 1\]"):
        th.ASGD(1.0, 1.0, 0.0, 0.5)
    with pytest.raises(ValueError, match="ASGD.long_lr must be >= 0"):
        th.ASGD(1.0, -1.0, 0.5, 0.5)
    with pytest.raises(TypeError, match="Averaged.base must be an optimizer other than Averaged"):
        th.Averaged(th.Averaged(th.SGD(1.0)))
    committee = th.CommitteeMachine(2, 2)
    with pytest.raises(TypeError, match=r"no theory for Nesterov on CommitteeMachine \(committee\)"):
        th.predict(committee, th.Nesterov(0.5), t=1.0)
    with pytest.raises(ValueError, match="method 'limit' of linreg covers Nesterov, SGD"):
        th.predict(power_law(10), th.ASGD(0.5, 1.0, 0.5, 0.5), t=1.0, method="limit")


def test_stability_gain_of_a_single_mode_sgd_closed_form():
    gamma, lam, batch = 0.3, np.array([2.0]), 2.0
    gain = lm.stability_gain(lm.sgd(np.float64(gamma), 0.0), lam, batch)
    expect = gamma * lam[0] / (batch * (2 - gamma * lam[0] * (1 + 1 / batch)))
    assert gain == pytest.approx(expect, rel=1e-12)
