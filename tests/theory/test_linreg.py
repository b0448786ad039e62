"""Least squares theory: closed forms, stability, the high-d ODE limit, transformations."""

import logging
import math

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hild import theory as th


def test_isotropic_recursion_closed_form():
    """Σ = I, B = 1, β = σ = 0: a' = a((1-γ)^2 + γ^2(d+1)), so risk_k = risk_0 q^k exactly."""
    d, eta = 37, 0.8
    problem = th.LinearRegression(th.spectra.isotropic(d))
    curve = th.predict(problem, th.SGD(eta), steps=500, num_points=11)
    gamma = eta / d
    q = (1 - gamma) ** 2 + gamma**2 * (d + 1)
    np.testing.assert_allclose(curve.risk, 0.5 * q ** np.asarray(curve.step), rtol=1e-11)


def test_single_mode_with_noise_and_batch_closed_form():
    """d = 1: a' = ((1-γλ)^2 + 2γ^2λ^2/B) a + γ^2σ^2λ/B, an affine map with a fixed point."""
    lam, sigma, batch, eta = 2.0, 0.3, 4, 0.7
    problem = th.LinearRegression([lam], teacher=[1.0], noise=sigma)
    curve = th.predict(problem, th.SGD(eta, batch=batch), steps=60, num_points=61)
    gamma = eta  # d = 1
    rho = (1 - gamma * lam) ** 2 + 2 * gamma**2 * lam**2 / batch
    fixed = gamma**2 * sigma**2 * lam / batch / (1 - rho)
    k = np.asarray(curve.step)
    a = fixed + (1.0 - fixed) * rho**k
    np.testing.assert_allclose(curve.risk, 0.5 * lam * a, rtol=1e-12)


def test_momentum_recursion_matches_the_explicit_linear_map():
    """With momentum, iterate the full covariance of (e_k, e_{k-1}) by brute force at d = 3."""
    lam = np.array([3.0, 1.0, 0.2])
    teacher = np.array([0.5, -1.0, 2.0])
    sigma, batch, eta, beta, steps = 0.2, 2, 0.3, 0.6, 40
    problem = th.LinearRegression(lam, teacher, noise=sigma)
    curve = th.predict(problem, th.SGD(eta, batch=batch, momentum=beta), steps=steps,
                       num_points=steps + 1)
    gamma = eta / 3
    sigma_mat = np.diag(lam)
    e0 = -teacher
    cov = np.block([[np.outer(e0, e0)] * 2] * 2)  # E[z z^T], z = (e_k, e_{k-1})
    risks = [0.5 * np.trace(sigma_mat @ cov[:3, :3])]
    for _ in range(steps):
        a, b = cov[:3, :3], cov[:3, 3:]
        c = cov[3:, 3:]
        m = (1 + beta) * np.eye(3) - gamma * sigma_mat
        # E[H A H] = (1 + 1/B) Σ A Σ + tr(AΣ) Σ / B for Gaussian x
        hah = (1 + 1 / batch) * sigma_mat @ a @ sigma_mat + np.trace(a @ sigma_mat) * sigma_mat / batch
        a_new = (m @ a @ m.T - beta * (m @ b + b.T @ m.T) + beta**2 * c
                 + gamma**2 * (hah - sigma_mat @ a @ sigma_mat)
                 + gamma**2 * sigma**2 * sigma_mat / batch)
        b_new = m @ a - beta * b.T
        cov = np.block([[a_new, b_new], [b_new.T, a]])
        risks.append(0.5 * np.trace(sigma_mat @ a_new))
    np.testing.assert_allclose(curve.risk, risks, rtol=1e-11)


def test_critical_lr_isotropic():
    for d in (10, 100, 1000):
        problem = th.LinearRegression(th.spectra.isotropic(d))
        np.testing.assert_allclose(th.critical_lr(problem, 1), 2 * d / (d + 2), rtol=1e-11)


@settings(max_examples=25, deadline=None)
@given(spectrum=hnp.arrays(np.float64, st.integers(1, 12), elements=st.floats(0.01, 10.0)),
       batch=st.integers(1, 16))
def test_critical_lr_is_where_the_spectral_radius_hits_one(spectrum, batch):
    problem = th.LinearRegression(spectrum)
    d = spectrum.size
    gamma = float(th.critical_lr(problem, batch)) / d
    diag = (1 - gamma * spectrum) ** 2 + gamma**2 * spectrum**2 / batch
    linear_map = np.diag(diag) + gamma**2 / batch * np.outer(spectrum, spectrum)
    np.testing.assert_allclose(np.max(np.abs(np.linalg.eigvals(linear_map))), 1.0, atol=1e-9)


@pytest.mark.parametrize("method", ["exact", "limit"])
def test_divergence_is_marked_with_its_step(method):
    problem = th.LinearRegression(th.spectra.isotropic(50))
    eta_c = float(th.critical_lr(problem, 1))
    stable = th.predict(problem, th.SGD(0.95 * eta_c), t=400.0, num_points=50, method=method)
    assert not bool(stable.diverged) and int(stable.diverged_step) == -1
    assert np.all(np.isfinite(stable.risk))
    unstable = th.predict(problem, th.SGD(1.2 * eta_c), t=400.0, num_points=50, method=method)
    assert bool(unstable.diverged)
    step = int(unstable.diverged_step)
    assert 0 < step <= int(unstable.step[-1])
    risk = np.asarray(unstable.risk)
    assert not np.any(np.isnan(risk))
    assert np.all(np.isinf(risk[np.asarray(unstable.step) >= step]))
    assert np.all(np.isfinite(risk[np.asarray(unstable.step) < step]))


def test_isotropic_ode_is_the_exponential_law():
    """High-d, Σ = I, B = 1, σ = 0: risk = risk_0 exp(-(2η - η²) t) (docs/theory.md, Least squares)."""
    problem = th.LinearRegression(th.spectra.isotropic(100))
    for eta in (0.3, 1.0, 1.7):
        curve = th.predict(problem, th.SGD(eta), t=5.0, num_points=21, method="limit")
        np.testing.assert_allclose(curve.risk, 0.5 * np.exp(-(2 * eta - eta**2) * np.asarray(curve.t)),
                                   rtol=1e-6)
    big = th.LinearRegression(th.spectra.isotropic(4000))  # the recursion is O(1/d) away
    curve = th.predict(big, th.SGD(1.0), t=5.0, num_points=21)
    np.testing.assert_allclose(curve.risk, 0.5 * np.exp(-np.asarray(curve.t)), rtol=5e-3)


@pytest.mark.parametrize("batch, momentum", [(4, 0.0), (2, 0.5)])
def test_recursion_approaches_the_ode_like_one_over_d(batch, momentum):
    """max_t |risk_rec - risk_ode| over t in [0, 8] shrinks as d^-1 (two-bulk spectrum with
    noise; with momentum the ODE moves at the effective rate η/(1-β)). Fitted slopes over
    d = 64, 256, 1024 (deterministic; three sizes, each a compiled program): -0.996 (B = 4)
    and -1.022 (B = 2, β = 0.5); over d = 64..1024 in powers of 2: -0.997 and -1.020 (-1.004
    over d ≥ 256, the O(1/d²) terms bend the small-d end); tolerance 0.03."""
    gaps, ds = [], [64, 256, 1024]
    for d in ds:
        problem = th.LinearRegression(th.spectra.two_bulk(d, 5.0, 0.3), noise=0.2)
        opt = th.SGD(0.6 * (1 - momentum), batch=batch, momentum=momentum)
        rec = th.predict(problem, opt, t=8.0, num_points=41, save_state=False)
        ode = th.predict(problem, opt, t=8.0, num_points=41, method="limit", save_state=False)
        gaps.append(float(np.max(np.abs(np.asarray(rec.risk) - np.asarray(ode.risk)))))
    slope = np.polyfit(np.log(ds), np.log(gaps), 1)[0]
    assert abs(slope + 1.0) < 0.03, (slope, gaps)


def test_vmap_and_grad_over_hyperparameters():
    problem = th.LinearRegression(th.spectra.power_law(64, 1.2), noise=0.1)

    def final_risk(lr, momentum, noise):
        p = th.LinearRegression(problem.spectrum, problem.teacher, noise)
        opt = th.SGD(lr, batch=2, momentum=momentum)
        return th.predict(p, opt, t=3.0, num_points=5, save_state=False).risk[-1]

    lrs = jnp.array([0.2, 0.5, 0.8])
    batched = jax.vmap(final_risk, in_axes=(0, None, None))(lrs, 0.3, 0.1)
    looped = [final_risk(lr, 0.3, 0.1) for lr in lrs]
    np.testing.assert_allclose(batched, looped, rtol=1e-13)
    grads = jax.grad(final_risk, argnums=(0, 1, 2))(0.5, 0.3, 0.1)
    eps = 1e-6
    for i, g in enumerate(grads):
        args = [0.5, 0.3, 0.1]
        hi, lo = list(args), list(args)
        hi[i] += eps
        lo[i] -= eps
        fd = (final_risk(*hi) - final_risk(*lo)) / (2 * eps)
        np.testing.assert_allclose(g, fd, rtol=1e-6)


def test_vmap_over_batch_size_matches_integer_batches():
    problem = th.LinearRegression(th.spectra.power_law(40, 1.0))
    run = lambda b: th.predict(problem, th.SGD(0.5, batch=b), steps=200, num_points=5).risk
    batched = jax.vmap(run)(jnp.array([1.0, 2.0, 8.0]))
    for row, b in zip(batched, (1, 2, 8)):
        np.testing.assert_allclose(row, run(b), rtol=1e-13)


def test_changing_hyperparameters_does_not_recompile(caplog):
    """Floats are array leaves: a new lr, momentum or noise reuses the compiled recursion."""
    problem = th.LinearRegression(th.spectra.isotropic(16))
    th.predict(problem, th.SGD(0.4), steps=20, num_points=3)
    with caplog.at_level(logging.WARNING), jax.log_compiles():
        th.predict(problem, th.SGD(0.5, momentum=0.3), steps=20, num_points=3)
        th.predict(th.LinearRegression(problem.spectrum, noise=0.2), th.SGD(0.7), steps=20,
                   num_points=3)
    assert not [r for r in caplog.records if "Compiling" in r.getMessage()]


def test_from_covariance_equals_its_eigenbasis():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 12))
    cov = x.T @ x / 200
    w_star = rng.normal(size=12) / np.sqrt(12)
    rotated = th.LinearRegression.from_covariance(cov, w_star, noise=0.1)
    eigs, vecs = np.linalg.eigh(cov)
    direct = th.LinearRegression(eigs, vecs.T @ w_star, noise=0.1)
    opt = th.SGD(0.5, batch=2)
    np.testing.assert_allclose(th.predict(rotated, opt, steps=100, num_points=5).risk,
                               th.predict(direct, opt, steps=100, num_points=5).risk, rtol=1e-10)
    with pytest.raises(ValueError, match="positive semi-definite"):
        th.LinearRegression.from_covariance(-cov, w_star)


def test_schedules_are_evaluated_in_t():
    """A schedule means the same at any batch size: step-decay at t = 1 for B = 1 and B = 4."""
    problem = th.LinearRegression(th.spectra.isotropic(40))
    sched = th.schedules.step_decay(1.0, [1.0], factor=0.1)
    for batch in (1, 4):
        # the decayed rate from t = 1 on equals a constant 0.1 started from the t = 1 state
        full = th.predict(problem, th.SGD(sched, batch=batch), t=2.0, num_points=3)
        first = th.predict(problem, th.SGD(1.0, batch=batch), t=1.0, num_points=2)
        assert math.isclose(float(full.t[1]), 1.0)
        np.testing.assert_allclose(full.risk[1], first.risk[-1], rtol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(spectrum=[1.0, -0.5]), r"LinearRegression.spectrum must be >= 0"),
    (dict(spectrum=[1.0, float("nan")]), r"LinearRegression.spectrum must be finite"),
    (dict(spectrum=[0.0, 0.0]), r"LinearRegression.spectrum must have a positive entry"),
    (dict(spectrum=np.ones((2, 2))), r"LinearRegression.spectrum must be a 1-D array"),
    (dict(spectrum=[1.0, 1.0], teacher=[1.0]), r"LinearRegression.teacher must be a 1-D array of length 2"),
    (dict(spectrum=[1.0, 1.0], init=[1.0, 2.0, 3.0]), r"LinearRegression.init must be a 1-D array of length 2"),
    (dict(spectrum=[1.0], noise=-0.1), r"LinearRegression.noise must be >= 0"),
])
def test_bad_problem_fields(kwargs, match):
    with pytest.raises(ValueError, match=match):
        th.LinearRegression(**kwargs)


@pytest.mark.parametrize("call, match", [
    (lambda p: th.predict(p, th.SGD(0.5), steps=10, t=1.0), "exactly one of steps"),
    (lambda p: th.predict(p, th.SGD(0.5)), "exactly one of steps"),
    (lambda p: th.predict(p, th.SGD(0.5), steps=0), "steps must be an integer >= 1"),
    (lambda p: th.predict(p, th.SGD(0.5), t=-1.0), "t must be a finite number > 0"),
    (lambda p: th.predict(p, th.SGD(0.5), t=1.0, num_points=1), "num_points must be an integer >= 2"),
    (lambda p: th.predict(p, th.SGD(0.5), t=1.0, spacing="cubic"), "spacing must be one of"),
    (lambda p: th.predict(p, th.SGD(0.5), t=1.0, method="euler"), "method must be one of"),
])
def test_bad_predict_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call(th.LinearRegression(th.spectra.isotropic(4)))


def test_traced_bad_learning_rate_raises_at_run_time():
    problem = th.LinearRegression(th.spectra.isotropic(4))
    run = jax.vmap(lambda lr: th.predict(problem, th.SGD(lr), steps=5, num_points=2).risk)
    with pytest.raises(Exception, match="SGD.lr must be > 0"):
        run(jnp.array([0.5, -0.5]))


def test_float64_theory():
    problem = th.LinearRegression(th.spectra.isotropic(4))
    assert th.predict(problem, th.SGD(0.5), steps=5, num_points=2).risk.dtype == jnp.float64


@pytest.mark.parametrize("make", [
    lambda: th.spectra.isotropic(100), lambda: th.spectra.power_law(100, 1.3),
    lambda: th.spectra.two_bulk(100, 10.0, 0.25), lambda: th.spectra.marchenko_pastur(100, 0.3),
])
def test_spectra_have_mean_one(make):
    eigs = make()
    assert eigs.shape == (100,) and np.all(eigs >= 0)
    np.testing.assert_allclose(eigs.mean(), 1.0, rtol=1e-12)
    assert np.all(np.diff(eigs) <= 1e-12)  # sorted, largest first


def test_marchenko_pastur_quantiles_match_the_law():
    c = 0.25
    eigs = th.spectra.marchenko_pastur(4000, c)
    # MP with ratio c has mean 1 and variance c
    np.testing.assert_allclose(eigs.var(), c, rtol=1e-2)
    assert eigs.min() >= (1 - np.sqrt(c)) ** 2 - 1e-9 and eigs.max() <= (1 + np.sqrt(c)) ** 2 + 1e-9


def test_teachers_are_normalised():
    spec = th.spectra.power_law(50, 1.5)
    for teacher in (th.spectra.flat_teacher(spec), th.spectra.power_law_teacher(spec, 1.1)):
        np.testing.assert_allclose(np.sum(spec * teacher**2), 1.0, rtol=1e-12)
    power = spec * th.spectra.power_law_teacher(spec, 2.0) ** 2
    np.testing.assert_allclose(power[1] / power[0], 2.0**-2.0, rtol=1e-12)


@pytest.mark.parametrize("batch, noise", [(1, 0.0), (4, 0.3)])
def test_volterra_method_equals_the_recursion(batch, noise):
    """Method "volterra" (Talbot inversion of the recursion's generating function) gives the
    recursion's risk at any step without stepping (docs/theory.md, Least squares)."""
    spec = th.spectra.power_law(200, 1.5)
    problem = th.LinearRegression(spec, th.spectra.power_law_teacher(spec, 1.2), noise=noise)
    opt = th.SGD(0.5 * float(th.critical_lr(problem, batch)), batch=batch)
    fast = th.predict(problem, opt, steps=20_000, num_points=30, spacing="log", method="volterra")
    slow = th.predict(problem, opt, steps=20_000, num_points=30, spacing="log")
    np.testing.assert_allclose(np.asarray(fast.risk), np.asarray(slow.risk), rtol=1e-9)
    far = th.predict(problem, opt, steps=2**31 - 1, num_points=5, spacing="log", method="volterra")
    assert np.all(np.isfinite(np.asarray(far.risk))) and not bool(far.diverged)


def test_volterra_method_covers_constant_rate_plain_sgd_only():
    problem = th.LinearRegression(th.spectra.isotropic(20))
    for opt, match in [(th.SGD(0.5, momentum=0.5), "without momentum"),
                       (th.SGD(th.schedules.polynomial(0.5, t0=1.0, power=1.0)), "constant lr"),
                       (th.Nesterov(0.5, momentum=0.5), "method 'volterra' of linreg covers SGD; "
                                                        "use method 'exact' or 'limit' for Nesterov")]:
        with pytest.raises(ValueError, match=match):
            th.predict(problem, opt, steps=10, method="volterra")
    unstable = th.predict(problem, th.SGD(2.5), steps=1000, num_points=20, spacing="log",
                          method="volterra")
    assert bool(unstable.diverged)
