"""DMFT of GD on a fixed data set: the exact full-batch least-squares theory, real GD, bad input."""

import jax
import numpy as np
import pytest

import hild.theory as th
from hild.simulate.dmft import simulate_mixture
from hild.theory.dmft import solve_mixture, solve_single_index
from hild.theory.gaussian_mixture import GaussianMixture
from hild.theory.single_index import SingleIndex, SingleIndexState

jax.config.update("jax_enable_x64", True)


@pytest.mark.slow
def test_linear_square_loss_is_full_batch_least_squares():
    """Linear teacher and student, square loss, ridge: FullBatchRegression's "limit" at the
    same α (DMFT lr = η/α, ridge = αρ); the sample process is Gaussian, so the whitened
    Monte Carlo is exact up to rounding (measured 4e-7 at 20 steps, 2048 samples)."""
    alpha, sigma, rho, eta, steps = 2.0, 0.5, 0.1, 0.4, 8
    fb = th.FullBatchRegression(np.ones(400), 800, noise=sigma, ridge=rho)
    curve = th.predict(fb, th.SGD(eta), steps=steps, num_points=steps + 1)
    si = SingleIndex("linear", "linear", noise=sigma, init=SingleIndexState(0.0, 1e-12))
    sol = solve_single_index(si, alpha, eta / alpha, steps, ridge=alpha * rho, samples=512,
                             chunk=512)
    np.testing.assert_allclose(sol.observables["test_risk"], curve.risk, rtol=1e-5)
    np.testing.assert_allclose(sol.train_loss, curve.observables["train"], rtol=1e-5)
    assert sol.residuals[-1] < 1e-8 and len(sol.residuals) <= steps + 2


def test_bad_input():
    p = GaussianMixture(loss="square")
    with pytest.raises(ValueError, match="batch_fraction"):
        solve_mixture(p, 2.0, 0.1, 5, batch_fraction=1.5)
    with pytest.raises(ValueError, match="persistence"):
        solve_mixture(p, 2.0, 0.1, 5, batch_fraction=0.5, persistence=0.1)
    with pytest.raises(ValueError, match="multiple of chunk"):
        solve_mixture(p, 2.0, 0.1, 5, samples=100, chunk=64)


@pytest.mark.slow
def test_refused_when_not_converged():
    p = GaussianMixture(loss="square")
    with pytest.raises(RuntimeError, match="did not converge"):
        solve_mixture(p, 2.0, 0.1, 6, samples=64, chunk=64, max_sweeps=2)


def _z_scores(sol, sim, names, checkpoints):
    out = {}
    for name in names:
        x = np.asarray(sim[name])
        mean, se = x.mean(0), x.std(0, ddof=1) / np.sqrt(x.shape[0])
        theory = np.asarray(sol.train_loss if name == "train_loss" else sol.observables[name])
        out[name] = ((mean - theory)[checkpoints] / se[checkpoints],
                     np.abs(mean - theory)[checkpoints].max())
    return out


@pytest.mark.slow
@pytest.mark.parametrize("loss, lr, fraction", [("logistic", 0.3, 1.0), ("square", 0.1, 1.0),
                                                ("logistic", 0.3, 0.3)])
def test_mixture_against_real_gd(loss, lr, fraction):
    """ρ = 0.3, Δ = 0.5, α = 2, ridge 0.1, 40 steps: train loss, test error and test loss
    within 3 SE at 10 checkpoints at d = 200 (40 seeds) and d = 800 (20 seeds)
    (docs/theory.md, DMFT)."""
    p = GaussianMixture(rho=0.3, delta=0.5, loss=loss, init_scale=0.1)
    steps = 40
    sol = solve_mixture(p, 2.0, lr, steps, ridge=0.1, samples=8192, batch_fraction=fraction)
    checkpoints = np.linspace(0, steps, 10).astype(int)
    for d, seeds in ((200, 40), (800, 20)):
        sim = simulate_mixture(p, 2.0, lr, steps, d, seeds, ridge=0.1, batch_fraction=fraction,
                               key=1)
        for name, (z, gap) in _z_scores(sol, sim, ("train_loss", "error", "test_loss"),
                                        checkpoints).items():
            assert np.all(np.abs(z) < 3), (d, name, z, gap)
