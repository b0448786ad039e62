"""Power-law random features: the reduction to least squares, the Talbot inversion against
the step-by-step recursion, the phase table, bad input."""

import jax
import numpy as np
import pytest

from hild.theory import SGD, PowerLawRandomFeatures, compute_optimal_exponents, predict
from hild.theory._volterra import excess_at_steps, stable

jax.config.update("jax_enable_x64", True)


@pytest.fixture(scope="module")
def problem():
    return PowerLawRandomFeatures(1.0, 0.7, 256, 32, key=3)


def test_reduction_matches_a_direct_computation(problem):
    w = np.asarray(problem.projection)
    j = np.arange(1, 257.0)
    cov = (w * j[:, None] ** -2.0).T @ w
    best = np.linalg.solve(cov, w.T @ (j**-2.0 * j**-0.7))
    floor = np.sum(j**-2.0 * j**-1.4) - best @ cov @ best
    assert float(problem.noise_variance) == pytest.approx(floor, rel=1e-9)
    theta_star = np.asarray(problem.basis) @ np.asarray(problem.teacher)
    np.testing.assert_allclose(theta_star, best, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.sort(np.asarray(problem.spectrum)), np.linalg.eigvalsh(cov), rtol=1e-9)


def test_features_are_nested_in_d(problem):
    small = problem.with_model_size(8)
    np.testing.assert_allclose(np.asarray(small.projection) * np.sqrt(8),
                               np.asarray(problem.projection)[:, :8] * np.sqrt(32), rtol=1e-12)


@pytest.mark.parametrize("batch", [1, 3])
def test_volterra_equals_the_recursion(problem, batch):
    opt = SGD(0.3, batch=batch)
    fast = predict(problem, opt, steps=3000, num_points=40, spacing="log")
    slow = predict(problem, opt, steps=3000, num_points=40, spacing="log", method="exact")
    np.testing.assert_allclose(np.asarray(fast.risk), np.asarray(slow.risk), rtol=1e-9)
    assert float(fast.risk[-1]) > float(problem.limit_loss())


def test_talbot_inversion_of_a_generic_recursion():
    lam = np.geomspace(3.0, 1e-3, 50)
    a0 = np.linspace(0.5, 2.0, 50)
    gamma, batch, noise = 0.05, 2.0, 0.3
    assert bool(stable(lam, gamma, batch)) and not bool(stable(lam, 0.2, batch))
    steps = np.array([0, 5, 15, 16, 17, 100, 1234, 5000])
    q = (1 - gamma * lam) ** 2 + gamma**2 * lam**2 / batch
    a, direct = a0.copy(), []
    for _ in range(5001):
        direct.append(lam @ a)
        a = q * a + gamma**2 / batch * lam * (lam @ a + noise)
    got = excess_at_steps(lam, a0, noise, gamma, batch, steps)
    np.testing.assert_allclose(np.asarray(got), np.asarray(direct)[steps], rtol=1e-9)


def test_long_horizon_reaches_the_stationary_loss(problem):
    """At a constant rate the recursion's fixed point is S* = σ²κ/(1 - κ) with
    κ = (γ²/B) Σ λ_i²/(1 - q_i): the loss settles at (S* + σ²)/2, above σ²/2."""
    curve = predict(problem, SGD(0.3), steps=10**9, num_points=10, spacing="log")
    lsq = problem.least_squares()
    lam, gamma, noise = np.asarray(lsq.spectrum), 0.3 / problem.d, float(problem.noise_variance)
    q = (1 - gamma * lam) ** 2 + gamma**2 * lam**2
    kappa = gamma**2 * np.sum(lam**2 / (1 - q))
    expected = 0.5 * (noise * kappa / (1 - kappa) + noise)
    assert float(curve.risk[-1]) == pytest.approx(expected, rel=1e-8)


def test_an_unstable_rate_is_reported_as_diverged(problem):
    curve = predict(problem, SGD(5.0), steps=10_000, num_points=30, spacing="log")
    assert bool(curve.diverged) and 0 < int(curve.diverged_step) <= 16


@pytest.mark.parametrize("alpha, beta, phase, x, y", [
    (1.0, 0.3, "I", 1 / 3, 1.6 / 3), (1.0, 0.7, "II", 0.7 / 1.7, 2.4 / 3.4),
    (0.75, 1.25, "III", 0.5, 2 / 3), (0.4, 1.0, "IV", None, None),
    (0.4, 0.3, "Ib/Ic", None, None), (0.2, 0.4, "outside (α ≤ 1/4)", None, None)])
def test_phase_table(alpha, beta, phase, x, y):
    out = compute_optimal_exponents(alpha, beta)
    assert out["phase"] == phase
    assert out["model_size"] == (pytest.approx(x) if x else None)
    assert out["loss"] == (pytest.approx(y) if y else None)
    assert ("not_covered" in out) == (x is None)


@pytest.mark.parametrize("kwargs, match", [
    ({"alpha": 0.0}, "alpha must be > 0"),
    ({"alpha": 0.3, "beta": 0.1}, "2 alpha \\+ 2 beta > 1"),
    ({"v": 16, "d": 32}, "PowerLawRandomFeatures.v must be"),
    ({"d": 0}, "PowerLawRandomFeatures.d must be"),
    ({"key": -1}, "PowerLawRandomFeatures.key must be"),
    ({"v": 10**6, "d": 10**5}, "needs about"),
])
def test_bad_input(kwargs, match):
    args = {"alpha": 1.0, "beta": 0.7, "v": 64, "d": 16, **kwargs}
    with pytest.raises(ValueError, match=match):
        PowerLawRandomFeatures(**args)


def test_volterra_refuses_momentum_and_schedules(problem):
    with pytest.raises(ValueError, match="without momentum; use method 'exact'"):
        predict(problem, SGD(0.3, momentum=0.5), steps=100)
    with pytest.raises(ValueError, match="constant lr"):
        predict(problem, SGD(lambda t: 0.3 / (1 + t)), steps=100)
    curve = predict(problem, SGD(0.3, momentum=0.5), steps=100, method="exact")
    assert np.all(np.isfinite(np.asarray(curve.risk)))
