"""Coordinate-wise optimizers (theory/coordinatewise.py): the window constants, the simulation
being optax's own rule, the fixed-β limit against simulation, and bad input."""

import math

import jax
import numpy as np
import optax
import pytest

from hild import simulate, spectra
from hild import theory as th
from hild.theory._window import adam_noise, gaussian_window

jax.config.update("jax_enable_x64", True)


def _least_squares(d, noise=0.1, teacher=None):
    """α = 0.5: λ_max/d ∝ d^-1/2, so no coordinate carries O(1) of the error's variance
    (with the flat teacher; a source β > 1 teacher puts a fixed share on the top mode)."""
    spec = spectra.power_law(d, alpha=0.5)
    teacher = spectra.power_law_teacher(spec, beta=1.2) if teacher is None else teacher(spec)
    return th.LinearRegression(spec, teacher, noise=noise)


def test_window_constants_of_sign_sgd_and_the_deterministic_preconditioner():
    """Sign-SGD: φ = E|z|E|ρ| = 2/π, s = 1. A long second-moment window (β2 → 1) makes the
    preconditioner deterministic: φ → 1, s → (1 − β1)/(1 + β1) per step."""
    phi, s = gaussian_window(0.0, 0.0, True)
    assert abs(phi - 2 / math.pi) < 1e-9 and abs(s - 1) < 1e-9
    phi, s = gaussian_window(0.5, 0.9999, False)
    assert abs(phi - 1) < 5e-3 and abs(s - 1 / 3) < 5e-3


def test_adam_long_run_noise_reduces_to_rmsprop_without_momentum():
    """The Monte Carlo lag sum at β1 = 0 is the per-step E[U²] of the quadrature."""
    mean, se = adam_noise(0.0, 0.5)
    assert abs(mean - gaussian_window(0.0, 0.5, True)[1]) < 3 * se


def test_the_simulated_rule_is_optax_adam_at_step_lr_over_d():
    problem = _least_squares(50)
    run = lambda opt: simulate.simulate(problem, opt, steps=20, num_points=3, seeds=2, key=3,
                                        dtype="float64")
    mine = run(th.Adam(0.5, b1=0.5, b2=0.5))
    theirs = run(th.Optax(optax.adam(0.5 / 50, b1=0.5, b2=0.5, eps=0.0)))
    np.testing.assert_allclose(mine.risk, theirs.risk, rtol=1e-12)


def test_rmsprop_limit_agrees_with_simulation():
    """d = 400, 128 runs, t <= 3: within 3 standard errors at 5 checkpoints."""
    problem, opt = _least_squares(400), th.RMSprop(0.5, decay=0.5)
    curve = th.predict(problem, opt, t=3.0, num_points=6)
    sim = simulate.simulate(problem, opt, t=3.0, num_points=6, seeds=128, key=0)
    z = (sim.mean() - np.asarray(curve.risk))[1:] / sim.stderr()[1:]
    assert np.all(np.abs(z) < 3), z


def test_bad_input_names_the_field():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    rotated = th.LinearRegression.from_covariance(basis @ np.diag(np.linspace(0.2, 2, 20)) @ basis.T,
                                                  rng.standard_normal(20) / 5)
    with pytest.raises(ValueError, match=r"^LinearRegression.rotated: Adam's limit needs a "
                                         r"diagonal covariance"):
        th.predict(rotated, th.Adam(0.5), t=1.0)
    problem = _least_squares(20)
    with pytest.raises(ValueError, match=r"^Adam.batch must be 1"):
        th.predict(problem, th.Adam(0.5, batch=2), t=1.0)
    with pytest.raises(ValueError, match=r"^RMSprop.eps must be 0"):
        th.predict(problem, th.RMSprop(0.5, eps=1e-8), t=1.0)
    with pytest.raises(ValueError, match=r"^Adam.b2 must be"):
        th.Adam(0.5, b2=1.0)
    with pytest.raises(ValueError, match=r"^SignDescent.lr must be"):
        th.SignDescent(-1.0)
    with pytest.raises(TypeError, match=r"single-index theory covers SignDescent"):
        th.predict(th.SingleIndex("relu"), th.Adam(0.5), t=1.0)


@pytest.mark.slow
@pytest.mark.parametrize("make", [
    lambda d: (_least_squares(d, teacher=spectra.flat_teacher), th.Adam(0.5, b1=0.5, b2=0.5), None),
    lambda d: (th.SingleIndex("relu", noise=0.1, init={"m": 0.2, "q": 0.5}), th.SignDescent(0.5), d),
], ids=["adam_least_squares", "sign_single_index"])
def test_agreement_at_two_d_and_the_gap_shrinks(make):
    gaps = []
    for d in (250, 1000):
        problem, opt, sim_d = make(d)
        curve = th.predict(problem, opt, t=4.0, num_points=11)
        sim = simulate.simulate(problem, opt, t=4.0, num_points=11, seeds=256, key=1, d=sim_d,
                                dtype="float64")
        gap = (sim.mean() - np.asarray(curve.risk))[1:]
        assert np.all(np.abs(gap / sim.stderr()[1:]) < 3), (d, gap / sim.stderr()[1:])
        gaps.append(np.max(np.abs(gap)))
    assert gaps[1] < gaps[0], gaps
