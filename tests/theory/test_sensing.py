"""Rank-one sensing, prox-linear recursion (docs/theory.md, Rank-one matrix sensing): reference values, limits, claims.

Claims of arXiv 2402.01599 (from its abstract; the full text was not available) reproduced by
the recursion: fixed-step mini-batch prox-linear converges linearly from a local start to a
statistical error floor; the noise sets the floor (∝ σ²), not the rate; step and batch size
set both. And which batch sizes converge: with a near-Gauss–Newton step only batches with at
least as many measurements as unknowns (m ≥ 2d bilinear, m ≥ d symmetric) converge, while a
damped step converges with small batches too.

Most predictions share one horizon (60 iterations) so that they share one compilation.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hild import theory as th
from hild.theory import sensing
from hild.theory.fields import Table

N = 60


@functools.cache
def run(model, noise, step, fraction, nodes=sensing.DEFAULT_NODES):
    curve = th.predict(th.RankOneSensing(model, noise), th.ProxLinear(step, fraction), N,
                       num_points=N + 1, nodes=nodes)
    assert not bool(curve.diverged)
    return np.asarray(curve.risk)


def bilinear(noise=0.1, init=None):
    return th.RankOneSensing("bilinear", noise, init)


def test_reference_values_of_theory_md():
    """Start (0.6, 0.6, 0.7, 0.4), δ = 2, η = 1, σ = 0.1 (docs/theory.md, Rank-one matrix sensing)."""
    curve = th.predict(bilinear(), th.ProxLinear(1.0, 2.0), N, num_points=N + 1)
    r = np.asarray(curve.risk)
    assert r[0] == pytest.approx(0.628, abs=1e-12)
    np.testing.assert_allclose(r[[1, 3, 5, 8, 10]], [0.4237, 0.1594, 0.0513, 0.0104, 0.0051],
                               atol=5e-5)
    assert r[40] == pytest.approx(0.00303, abs=5e-6)
    np.testing.assert_array_equal(curve.t, np.arange(N + 1) * 2.0)  # t = iterations · δ
    s = curve.state
    err = (s.alpha * s.gamma - 1) ** 2 + (s.alpha * s.zeta) ** 2 + s.beta**2 * (s.gamma**2 + s.zeta**2)
    np.testing.assert_allclose(err, r, rtol=1e-12)
    np.testing.assert_allclose(run("bilinear", 0.1, 1.0, 2.0), r, rtol=1e-12)


@pytest.mark.parametrize("delta", [1.5, 2.0, 4.0])
@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_least_squares_limit(delta, noise):
    """One block, ψ ≡ 1, c0 = Z1, 1/η = 0: plain least squares, c = 1/(δ−1), p = (1, 0),
    ρ² = σ²/(δ−1) (docs/theory.md, Rank-one matrix sensing: the least-squares limit)."""
    new, c = _least_squares_step(jnp.asarray(delta), jnp.asarray(noise**2))
    assert float(c) == pytest.approx(1 / (delta - 1), rel=1e-10)
    np.testing.assert_allclose(new, [1.0, noise / math.sqrt(delta - 1)], atol=1e-10)


@jax.jit
def _least_squares_step(delta, noise_var):
    z, w = np.polynomial.hermite_e.hermegauss(9)
    Z1, Z2 = (x.reshape(-1) for x in np.meshgrid(z, z, indexing="ij"))
    W = np.outer(w, w).reshape(-1) / w.sum() ** 2
    one = jnp.ones((1, W.size))
    design = sensing.Design(jnp.asarray(W), one, jnp.asarray(np.stack([Z1, Z2])),
                            jnp.asarray(Z1), jnp.asarray(W), one)
    theta = jnp.asarray([0.3, 0.8])  # forgotten without damping
    new = sensing.ridge_step(design, theta, delta, jnp.asarray(0.0), noise_var)
    c, ok = sensing.solve_resolvent(design, delta, jnp.asarray(0.0))
    return new, jnp.where(ok, c[0], jnp.nan)


@pytest.mark.parametrize("step, fraction", [(1.0, 2.0), (1.0, 0.5), (16.0, 0.25), (100.0, 4.0)])
def test_quadrature_converges_in_the_number_of_nodes(step, fraction):
    """The sinh-mapped trapezoid rule: 61 nodes (the default) agree with 121 to 1e-9
    (relative) at every iteration, even where the poles of 1/D approach the real axis (large
    step, small batch), where 80 Gauss–Hermite nodes are still off by ~1e-2."""
    np.testing.assert_allclose(run("bilinear", 0.1, step, fraction),
                               run("bilinear", 0.1, step, fraction, nodes=121), rtol=1e-9)


def test_symmetric_model_floor():
    r = run("symmetric", 0.1, 2.0, 1.0)
    assert r[0] == pytest.approx(0.5676)
    assert r[-1] < 0.02 * r[0] and abs(r[-1] - r[-2]) < 1e-9  # at its floor


@pytest.mark.parametrize("step, fraction, rate", [(1.0, 1.0, 0.674), (1.0, 2.0, 0.534),
                                                  (5.0, 2.0, 0.316)])
def test_linear_convergence_to_a_noise_floor(step, fraction, rate):
    """Paper claim: fixed-step mini-batch prox-linear converges linearly from a local start to
    a statistical error floor. Noiseless: e_{k+1}/e_k settles at a constant ρ < 1 (exact
    recovery at a linear rate). With noise: (e_k − e_∞)/(e_{k−1} − e_∞) follows the noiseless
    ratios, then the error stops at a floor e_∞ ∝ σ² (noise sets the floor, not the rate)."""
    clean = run("bilinear", 0.0, step, fraction)
    ratio = clean[1:] / clean[:-1]
    end = int(np.sum(clean > 1e-24)) - 1  # below, round-off of the error itself
    assert end >= 40 and np.all(ratio[:end] < 1)
    assert ratio[end - 1] == pytest.approx(rate, abs=1e-3)
    np.testing.assert_allclose(ratio[end // 2:end], ratio[end - 1], rtol=2e-3)
    noisy = run("bilinear", 0.1, step, fraction)
    floor = noisy[-1]
    np.testing.assert_allclose((noisy[1:9] - floor) / (noisy[:8] - floor), ratio[:8], rtol=0.02)
    floors = [run("bilinear", s, step, fraction)[-1] / s**2 for s in (0.01, 0.03, 0.1)]
    np.testing.assert_allclose(floors, floors[0], rtol=0.01)


STEPS = (0.25, 0.5, 1.0, 2.0, 4.0, 1000.0, 1e4)
FRACTIONS = (0.05, 0.25, 0.5, 1.0, 1.5, 2.0, 4.0)


@functools.cache
def _grid(model, iterations=80):
    """One vmapped prediction over STEPS × FRACTIONS: risk (steps, fractions, iterations + 1)."""
    problem = th.RankOneSensing(model, 0.1)
    s, f = (jnp.asarray(x.reshape(-1)) for x in np.meshgrid(STEPS, FRACTIONS, indexing="ij"))
    curves = jax.vmap(lambda a, b: th.predict(problem, th.ProxLinear(a, b), iterations,
                                              num_points=iterations + 1, save_state=False))(s, f)
    shape = (len(STEPS), len(FRACTIONS), iterations + 1)
    return np.asarray(curves.risk).reshape(shape), np.asarray(curves.diverged).reshape(shape[:2])


def test_step_and_batch_set_rate_and_floor():
    """Paper claim: batch size, step size and noise set the rate and the floor. The recursion
    (σ = 0.1, η and δ in {0.5, 1, 2, 4}): a larger batch gives a lower error after 5
    iterations and a lower floor; a larger step always raises the floor, and lowers the
    error after 5 iterations for δ ≥ 1, while at δ = 0.5 the fastest step is interior (η = 2):
    the trade-off that tuning resolves."""
    r, _ = _grid("bilinear")
    i, j = [STEPS.index(s) for s in (0.5, 1.0, 2.0, 4.0)], [FRACTIONS.index(f) for f in (0.5, 1.0, 2.0, 4.0)]
    r = r[np.ix_(i, j)]
    after5, floor = r[..., 5], r[..., 80]
    assert np.all(np.abs(r[..., 80] - r[..., 70]) < 1e-2 * floor)  # at the floor
    assert np.all(np.diff(floor, axis=0) > 0) and np.all(np.diff(floor, axis=1) < 0)
    assert np.all(np.diff(after5, axis=1) < 0)
    assert np.all(np.diff(after5[:, 1:], axis=0) < 0)
    assert int(np.argmin(after5[:, 0])) == 2


@pytest.mark.parametrize("model, enough", [("bilinear", 4.0), ("symmetric", 1.5)])
def test_which_batch_sizes_converge(model, enough):
    """A near-Gauss–Newton step (η = 1000) converges only with more measurements per
    iteration than unknowns (δ = 4 but not 2 or 1.5 for the bilinear model's 2d unknowns,
    δ = 1.5 but not 1 for the symmetric model's d), while a damped step (η = 0.25) converges
    from every batch tried down to δ = 0.05. No NaN anywhere: where the symmetric recursion
    blows up (m = d, η = 1e4) it is reported as divergence."""
    r, diverged = _grid(model)
    r, diverged = r[..., :31], diverged  # 30 iterations
    assert not np.isnan(r).any()
    damped, gauss_newton = STEPS.index(0.25), STEPS.index(1000.0)
    start, final = r[0, 0, 0], r[..., -1]
    assert np.all(np.diff(r[damped], axis=-1) < 0)  # the error falls at every iteration
    small = np.asarray(FRACTIONS) < enough
    if model == "bilinear":
        small[FRACTIONS.index(2.0)] = True  # m = 2d: the boundary, not converged by 30
    assert np.all(final[gauss_newton, small] > start) and np.all(final[gauss_newton, ~small] < 0.1)
    if model == "symmetric":
        assert diverged[STEPS.index(1e4), FRACTIONS.index(1.0)] and diverged.sum() == 1
    else:
        assert not diverged.any()


def test_grad_over_the_step():
    """The gradient of the error after 6 iterations in η (implicit differentiation through
    E1) matches central differences of separate predictions. (vmap: see the tuning test.)"""
    problem = bilinear(0.1)
    final = lambda s: th.predict(problem, th.ProxLinear(s, 2.0), 6, save_state=False).risk[-1]
    grad = jax.jit(jax.grad(final))(1.0)
    h = 1e-5
    fd = (run("bilinear", 0.1, 1.0 + h, 2.0)[6] - run("bilinear", 0.1, 1.0 - h, 2.0)[6]) / (2 * h)
    assert np.isfinite(grad) and float(grad) == pytest.approx(float(fd), rel=1e-4)


def test_horizon_in_t_and_measured_init(tmp_path):
    problem = bilinear(0.1)
    start = th.BilinearState(*(jnp.asarray(x) for x in (0.9, 0.2, 0.8, 0.3)))
    curve = th.predict(problem, th.ProxLinear(1.0, 0.5), t=30.0, num_points=N + 1, init=start)
    assert int(curve.step[-1]) == N and float(curve.t[-1]) == 30.0
    assert float(curve.risk[0]) == pytest.approx(float(problem.error(start)))
    assert float(curve.state.alpha[0]) == 0.9
    curve.save(tmp_path / "c")
    loaded = th.Curve.load(tmp_path / "c")
    np.testing.assert_array_equal(loaded.risk, curve.risk)
    np.testing.assert_array_equal(loaded.state.zeta, curve.state.zeta)
    assert isinstance(loaded.state, th.BilinearState) and loaded.metadata["risk_label"]


def test_bad_inputs_name_the_field():
    with pytest.raises(ValueError, match=r"ProxLinear.step must be > 0"):
        th.ProxLinear(0.0, 1.0)
    with pytest.raises(ValueError, match=r"ProxLinear.step must be > 0"):
        th.ProxLinear(-1.0, 1.0)
    with pytest.raises(ValueError, match=r"ProxLinear.batch_fraction must be > 0"):
        th.ProxLinear(1.0, 0.0)
    with pytest.raises(ValueError, match=r"ProxLinear.batch_fraction must be > 0"):
        th.ProxLinear(1.0, -0.5)
    with pytest.raises(ValueError, match=r"ProxLinear.step must be finite"):
        th.ProxLinear(float("inf"), 1.0)
    with pytest.raises(ValueError, match=r"RankOneSensing.model must be one of bilinear, symmetric"):
        th.RankOneSensing("trilinear")
    with pytest.raises(ValueError, match=r"RankOneSensing.noise must be >= 0"):
        th.RankOneSensing(noise=-0.1)
    with pytest.raises(ValueError, match=r"RankOneSensing.init.beta must be >= 0"):
        th.RankOneSensing(init=(0.5, -0.1, 0.5, 0.1))
    with pytest.raises(ValueError, match=r"RankOneSensing.init must be \(alpha, beta\)"):
        th.RankOneSensing("symmetric", init=(0.5, 0.1, 0.5, 0.1))
    with pytest.raises(ValueError, match=r"RankOneSensing.init must be a SymmetricState"):
        th.RankOneSensing("symmetric", init=bilinear().init)
    with pytest.raises(TypeError, match=r"no theory for SGD on RankOneSensing \(sensing\); its "
                                        r"theories: ProxLinear"):
        th.predict(bilinear(), th.SGD(0.1), 3)
    with pytest.raises(ValueError, match="nodes must be an integer >= 11"):
        th.predict(bilinear(), th.ProxLinear(1.0, 1.0), 3, nodes=5)
    with pytest.raises(Exception, match="ProxLinear.step must be > 0"):  # traced: error_if
        jax.jit(lambda s: th.ProxLinear(s, 1.0).checked_step())(-1.0)
    with pytest.raises(Exception, match="ProxLinear.batch_fraction must be > 0"):
        jax.jit(lambda f: th.ProxLinear(1.0, f).checked_batch_fraction())(0.0)


def test_config_round_trip():
    for problem in (bilinear(0.2, (0.5, 0.4, 0.3, 0.2)), th.RankOneSensing("symmetric", 0.0)):
        again = th.RankOneSensing.from_config(Table(problem.to_config(), "problem"))
        assert again.model == problem.model and again.to_config() == problem.to_config()
    opt = th.ProxLinear(2.5, 0.75)
    again = th.optimizer_from_config(Table(opt.to_config(), "optimizer"))
    assert isinstance(again, th.ProxLinear) and again.to_config() == opt.to_config()
    with pytest.raises(ValueError, match=r"problem.init: expected 2 numbers"):
        th.RankOneSensing.from_config(Table({"model": "symmetric", "init": [1, 2, 3]}, "problem"))
    with pytest.raises(ValueError, match=r"optimizer.step: missing required field"):
        th.optimizer_from_config(Table({"kind": "prox_linear"}, "optimizer"))
