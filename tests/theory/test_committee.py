"""Soft committee machine theory: Gaussian integrals, the ODEs, the plateau, Xu & Du's rates,
transformations (jit/vmap/grad), configs and bad inputs."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import erf

from hild import theory as th
from hild.compare import config
from hild.theory._activations import Erf, make_activation
from hild.theory.committee import (CommitteeMachine, Overlaps, find_plateau, random_init,
                              vector_field)


def covariance(n, seed, scale=1.0):
    a = np.random.default_rng(seed).normal(size=(n, n + 2)) * math.sqrt(scale / (n + 2))
    return jnp.asarray(a @ a.T)


# ------------------------------------------------------------------ Gaussian integrals

# slot patterns of the fields (a, b, c, e): all distinct, and coincident ones as in the ODE
PATTERNS = [[0, 1, 2, 3], [0, 1, 0, 1], [0, 0, 1, 2], [0, 1, 0, 2], [0, 0, 0, 0], [0, 1, 2, 2]]


def integrals(act, cov):
    """price at three pairs, I3 at four slot patterns, I4 at PATTERNS (over the distinct
    fields, as the ODE calls it) and at four distinct fields — in one compiled call."""
    def all_of(cov):
        pairs = [jnp.stack(act.price(cov[a, a], cov[a, c], cov[c, c])) for a, c in [(0, 1), (2, 3), (1, 1)]]
        i3 = [act.i3(cov[np.ix_(idx, idx)]) for idx in ([0, 1, 2], [0, 1, 0], [0, 0, 0], [2, 0, 1])]
        i4 = []
        for pattern in PATTERNS:
            fields = list(dict.fromkeys(pattern))
            slots = tuple(fields.index(i) for i in pattern)
            i4.append(act.i4_fields(cov[np.ix_(fields, fields)], slots))
        return jnp.concatenate(pairs), jnp.stack(i3), jnp.stack(i4 + [act.i4(cov)])

    return jax.jit(all_of)(cov)


@pytest.mark.parametrize("seed", [0, 1])
def test_quadrature_path_matches_erf_closed_forms(seed):
    """The generic path (Gauss–Hermite I2, I3 by Stein + Price with jax.grad, I4 over the
    distinct fields) on erf(x/√2) against Saad & Solla's closed forms, to 1e-8; the closed
    I3 (Price from I2) against the closed form of docs/theory.md to 1e-12."""
    cov = covariance(4, seed)
    closed = integrals(Erf(), cov)
    generic = integrals(make_activation(lambda x: erf(x / math.sqrt(2.0)), (40, 20)), cov)
    for x, y in zip(closed, generic):
        np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=0, atol=1e-8)
    for value, idx in zip(closed[1], ([0, 1, 2], [0, 1, 0], [0, 0, 0], [2, 0, 1])):
        c3 = cov[np.ix_(idx, idx)]
        c11, c12, c13, c23, c33 = c3[0, 0], c3[0, 1], c3[0, 2], c3[1, 2], c3[2, 2]
        lam3 = (1 + c11) * (1 + c33) - c13**2
        theory_md = 2 / math.pi / jnp.sqrt(lam3) * (c23 * (1 + c11) - c12 * c13) / (1 + c11)
        assert abs(float(value) - float(theory_md)) < 1e-12


def test_polynomial_activations_are_exact():
    """linear: I2 = C_ac, I3 = C_bc, I4 = C_ce; quadratic: I2 = C_aa C_cc + 2 C_ac² (Isserlis)."""
    cov = covariance(4, 2, scale=1.5)
    lin, quad = make_activation("linear"), make_activation("quadratic")
    assert abs(float(lin.i2(cov[0, 0], cov[0, 1], cov[1, 1]) - cov[0, 1])) < 1e-13
    assert abs(float(lin.i3(cov[:3, :3]) - cov[1, 2])) < 1e-13
    assert abs(float(lin.i4(cov) - cov[2, 3])) < 1e-13
    expected = cov[0, 0] * cov[1, 1] + 2 * cov[0, 1] ** 2
    assert abs(float(quad.i2(cov[0, 0], cov[0, 1], cov[1, 1]) - expected)) < 1e-12
    # E[2a · b · c²] = 2 (C_ab C_cc + 2 C_ac C_bc)
    expected3 = 2 * (cov[0, 1] * cov[2, 2] + 2 * cov[0, 2] * cov[1, 2])
    assert abs(float(quad.i3(cov[:3, :3]) - expected3)) < 1e-12


def test_relu_closed_forms_against_monte_carlo():
    """ReLU I2 (Cho & Saul), I3 (Price from I2) and I4 (Price path) against 2e6 Monte Carlo
    samples, at 5 SE, for coincident slots too; and two exact identities."""
    relu = make_activation("relu")
    cov = covariance(4, 3, scale=1.7)
    lam, vec = np.linalg.eigh(np.asarray(cov))
    x = np.random.default_rng(0).standard_normal((2_000_000, 4)) @ (vec * np.sqrt(lam)).T
    pos, val = (x > 0).astype(float), np.maximum(x, 0)

    def check(estimate, samples):
        se = samples.std() / math.sqrt(samples.size)
        assert abs(float(estimate) - samples.mean()) < 5 * se, (float(estimate), samples.mean(), se)

    check(relu.i2(cov[0, 0], cov[0, 1], cov[1, 1]), val[:, 0] * val[:, 1])
    check(relu.i3(cov[:3, :3]), pos[:, 0] * x[:, 1] * val[:, 2])
    check(relu.i3(cov[np.ix_([0, 1, 0], [0, 1, 0])]), pos[:, 0] * x[:, 1] * val[:, 0])
    i4 = jax.jit(relu.i4)(jnp.stack([cov[np.ix_(p, p)] for p in PATTERNS]))
    for value, (a, b, c, e) in zip(i4, PATTERNS):
        check(value, pos[:, a] * pos[:, b] * val[:, c] * val[:, e])
    # E[relu(a)^2] = C_aa / 2 = I4(a, a, a, a); E[1{a>0} relu(c)^2] at c = a is the same
    assert abs(float(relu.i4(cov[np.ix_([0] * 4, [0] * 4)])) - float(cov[0, 0]) / 2) < 1e-10
    assert abs(float(relu.i2(cov[0, 0], cov[0, 0], cov[0, 0])) - float(cov[0, 0]) / 2) < 1e-14


def test_i3_at_coincident_fields_and_its_gradient():
    """I3(k, l, k) = E[g'(a) b g(a)] needs ∂I2/∂C at C_ac = C_aa = C_cc. By Stein on b given
    a it equals (C_ab / C_aa) E[a g'(a) g(a)], a 1-D integral (relu: C_ab / 2 exactly). The
    Price path matches it: erf, relu to round-off, tanh with the default 80 Gauss–Hermite
    nodes to 1e-7 (measured 5.6e-8; 40 nodes: 2.6e-5). Its gradient along a direction that
    keeps the fields coincident (the covariance stays valid on both sides) matches central
    differences: erf, relu to 1e-7 relative; tanh to 2e-4 (measured 1.8e-4 relative; 40 nodes
    were 4% off)."""
    cov = covariance(3, 4)
    c3 = cov[np.ix_([0, 1, 0], [0, 1, 0])]
    caa, cab = float(cov[0, 0]), float(cov[0, 1])
    z, w = np.polynomial.hermite_e.hermegauss(160)
    a = math.sqrt(caa) * z
    lift = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    direction = jnp.asarray(lift @ np.asarray(covariance(2, 9)) @ lift.T)
    for name, value_tol, grad_rtol in (("erf", 1e-12, 1e-7), ("relu", 1e-12, 1e-7),
                                       ("tanh", 1e-7, 2e-4)):
        act = make_activation(name)
        g = np.asarray(act(jnp.asarray(a)))
        dg = np.asarray(act.derivative(jnp.asarray(a)))
        expected = cab / 2 if name == "relu" else cab / caa * np.sum(w * a * dg * g) / w.sum()
        assert abs(float(act.i3(c3)) - expected) < value_tol, name
        grad = jax.grad(lambda c: act.i3(c))(c3)
        h = 1e-5
        fd = (float(act.i3(c3 + h * direction)) - float(act.i3(c3 - h * direction))) / (2 * h)
        assert float(jnp.sum(grad * direction)) == pytest.approx(fd, rel=grad_rtol), name


# ------------------------------------------------------------------ the ODEs


def reference_problem():
    return CommitteeMachine(2, 2, "erf", init_scale=1.0)


def test_predict_returns_a_d_free_curve():
    problem = CommitteeMachine(2, 2, T=[[1.0, 0.2], [0.2, 0.7]])
    curve = th.predict(problem, th.SGD(0.5), t=10.0, num_points=11, plateau=False)
    np.testing.assert_allclose(np.asarray(curve.t), np.arange(11.0))
    assert np.all(np.asarray(curve.step) == -1) and curve.metadata["d"] is None
    assert curve.state.Q.shape == (11, 2, 2) and curve.state.R.shape == (11, 2, 2)
    assert not bool(curve.diverged) and int(curve.diverged_step) == -1
    assert float(curve.risk[0]) == pytest.approx(float(problem.risk(problem.default_init())))
    assert np.all(np.diff(np.asarray(curve.risk)) < 0)
    with pytest.raises(ValueError, match="no d.*give t="):
        th.predict(problem, th.SGD(0.5), steps=100)


def test_gradient_flow_is_gradient_descent_on_the_population_risk():
    """With fixed v and no η² terms, dw_k/dt = -η d ∇_{w_k} ε (d steps per unit t), so along
    the ODE dε/dt = -η d Σ_k ‖∇_{w_k} ε‖². Both sides from the overlaps alone: the left by
    the chain rule through jax.grad of the risk, the right from ∇_{w_k} ε = Σ_j c_kj u_j / d
    over u = (w, w*), c = [∂ε/∂Q + ∂ε/∂Qᵀ, ∂ε/∂R], so d Σ_k ‖∇_{w_k} ε‖² = Σ_k (c C cᵀ)_kk."""
    problem = reference_problem()
    init = random_init(problem, jax.random.key(1), 200)
    dy = vector_field(problem, th.SGD(0.5), gradient_flow=True)(0.0, init, None)
    grad = jax.grad(problem.risk)(init)
    rate = jnp.sum(grad.Q * dy.Q) + jnp.sum(grad.R * dy.R)
    coef = jnp.concatenate([grad.Q + grad.Q.T, grad.R], axis=1)
    norm2 = jnp.sum((coef @ problem.covariance(init)) * coef)
    assert float(rate) < 0
    np.testing.assert_allclose(float(rate), -0.5 * float(norm2), rtol=1e-10)


def test_reference_numbers_of_theory_md():
    """docs/theory.md, Committee machines: K = M = 2 erf, v = v* = 1, η = 0.5, init measured from w ~ N(0, I) at
    d = 1000: risk ≈ 0.0275 / 0.0212 / 0.0167 / 0.0144 at t = 10/20/50/100 "for that init"
    (not given). Over 16 draws of that init the theory spans the reference at every t."""
    problem = reference_problem()
    inits = jax.vmap(lambda k: random_init(problem, k, 1000))(jax.random.split(jax.random.key(0), 16))
    risk = jax.vmap(lambda i: th.predict(problem, th.SGD(0.5), t=100.0, num_points=11, init=i,
                                         plateau=False, save_state=False).risk)(inits)
    risk = np.asarray(risk)[:, [1, 2, 5, 10]]
    reference = np.array([0.0275, 0.0212, 0.0167, 0.0144])
    assert np.all(risk.min(0) <= reference * 1.01) and np.all(reference * 0.99 <= risk.max(0))


def test_symmetric_plateau():
    """K = M = 2, η = 0.5, default (small) init: the symmetric fixed point is a saddle (one
    unstable direction), the field vanishes there, the curve stays within 5% of it between
    the reported entry and escape. Measured (deterministic; rtol 1e-8 and 1e-10 agree to
    2e-6 in the times, to all digits in height and rate): height 0.01464485, escape rate
    0.03161816, entry t = 8.990958, escape t = 93.404130. K = 1 has no plateau."""
    problem = CommitteeMachine(2, 2)
    opt = th.SGD(0.5)
    assert "plateau" not in th.predict(problem, opt, t=20.0, num_points=3).metadata  # opt-in
    curve = th.predict(problem, opt, t=200.0, num_points=11, plateau=True)
    plateau = curve.metadata["plateau"]
    assert plateau["height"] == pytest.approx(0.01464485, rel=1e-6)
    assert plateau["escape_rate"] == pytest.approx(0.03161816, rel=1e-6)
    assert plateau["t_enter"] == pytest.approx(8.990958, abs=1e-5)
    assert plateau["t_escape"] == pytest.approx(93.404130, abs=1e-5)
    assert plateau["length"] == pytest.approx(plateau["t_escape"] - plateau["t_enter"], rel=1e-12)
    fixed = Overlaps(*(jnp.asarray(plateau["state"][k]) for k in ("Q", "R", "v")))
    residual = vector_field(problem, opt)(0.0, fixed, None)
    assert max(float(jnp.max(jnp.abs(x))) for x in jax.tree.leaves(residual)) < 1e-10
    t, risk = np.asarray(curve.t), np.asarray(curve.risk)
    on = (t > plateau["t_enter"]) & (t < plateau["t_escape"])
    assert on.sum() >= 3
    assert np.all(np.abs(risk[on] - plateau["height"]) <= 0.05 * plateau["height"])
    assert find_plateau(CommitteeMachine(1, 1), opt) is None


@pytest.mark.slow
def test_xu_du_single_neuron_rates():
    """docs/theory.md, Over-parameterised single neuron (Xu & Du, arXiv 2302.10034): ReLU
    teacher M = 1, student K = 1, 2, 3, v = v* = 1, population gradient flow from a small init
    (σ0 = 0.01, drawn at d = 1000), η = 1. K = 1: exponential, log-risk linear in t with rate
    -1 (measured -0.99999995, residuals 1.4e-6, on risk in [1e-10, 1e-3]). K ≥ 2: a power
    law; the slope of log-risk against log t on t in [1e3, 5e3] (above the ~1e-12 float64
    floor of the ReLU risk formula) measured -2.846 (K = 2) and -2.907 (K = 3), still
    steepening towards -3. These fits are deterministic, but sensitive to the solver's rtol
    (1e-12 vs 1e-13 moves them by 0.003; 1e-10 by 0.25): tolerance 0.01."""
    opt = th.SGD(1.0)
    measured = {2: -2.846, 3: -2.907}
    for K in (1, 2, 3):
        problem = CommitteeMachine(K, 1, "relu", init_scale=0.01)
        init = random_init(problem, jax.random.key(0), 1000)
        if K == 1:
            curve = th.predict(problem, opt, t=30.0, num_points=61, init=init, gradient_flow=True,
                               rtol=1e-11, atol=1e-15, plateau=False)
            t, risk = np.asarray(curve.t), np.asarray(curve.risk)
            sel = (risk > 1e-10) & (risk < 1e-3)
            fit = np.polyfit(t[sel], np.log(risk[sel]), 1)
            residual = np.log(risk[sel]) - np.polyval(fit, t[sel])
            assert sel.sum() >= 30 and np.max(np.abs(residual)) < 1e-5
            assert fit[0] == pytest.approx(-1.0, abs=1e-5)
        else:
            curve = th.predict(problem, opt, t=5e3, num_points=41, spacing="log", init=init,
                               gradient_flow=True, rtol=1e-12, atol=1e-15, plateau=False)
            t, risk = np.asarray(curve.t), np.asarray(curve.risk)
            sel = t >= 1e3
            rate = np.polyfit(np.log(t[sel]), np.log(risk[sel]), 1)[0]
            assert rate == pytest.approx(measured[K], abs=0.01)
            # much slower than K = 1: still ~2e-8 at t = 300 (K = 1: below 1e-10 by t = 25)
            assert np.interp(300.0, t, risk) == pytest.approx(2.3e-8 if K == 2 else 1.9e-8, rel=0.05)


def test_grad_in_float_fields():
    """predict is differentiable in η, the noise, T and the init overlaps (one reverse-mode
    pass through the adaptive solver) and agrees with central finite differences; jit and
    vmap are exercised by the reference-number test (vmap over inits) and the simulator's."""
    def final_risk(eta, noise, t12, r0):
        problem = CommitteeMachine(2, 2, noise=noise, T=jnp.array([[1.0, t12], [t12, 1.0]]),
                                   init=Overlaps(jnp.eye(2) * 0.5, jnp.array([[r0, 0.0], [0.0, 0.1]]),
                                                 jnp.ones(2)))
        return th.predict(problem, th.SGD(eta), t=10.0, num_points=11, plateau=False,
                          save_state=False).risk[-1]

    args = (0.5, 0.1, 0.2, 0.3)
    grads = jax.grad(final_risk, argnums=(0, 1, 2, 3))(*args)
    for i, g in enumerate(grads):
        h = 1e-5
        up = list(args); up[i] += h
        down = list(args); down[i] -= h
        fd = (float(final_risk(*up)) - float(final_risk(*down))) / (2 * h)
        assert float(g) == pytest.approx(fd, rel=1e-4, abs=1e-8), i


def test_gradient_flow_drops_the_eta_squared_terms():
    """Without the η² terms the dynamics depend on η t only; with them, not."""
    problem = CommitteeMachine(2, 2, noise=0.2)
    run = lambda eta, t, flow: np.asarray(th.predict(problem, th.SGD(eta), t=t, num_points=11,
                                                     gradient_flow=flow, plateau=False).risk)
    np.testing.assert_allclose(run(0.5, 10.0, True), run(1.0, 5.0, True), rtol=1e-6)
    assert not np.allclose(run(0.5, 10.0, False), run(1.0, 5.0, False), rtol=1e-3)


# ------------------------------------------------------------------ configs and bad input


def test_config_round_trip_and_default_config():
    problem = CommitteeMachine(3, 2, "relu", teacher_second_layer=[1.0, -0.5], train_second_layer=True,
                               noise=0.1, T=[[1.0, 0.3], [0.3, 2.0]], second_layer=[0.5, 0.2, 0.1],
                               init_scale=0.2,
                               init=random_init(CommitteeMachine(3, 2, T=[[1.0, 0.3], [0.3, 2.0]]),
                                                jax.random.key(0), 100))
    again = CommitteeMachine.from_config(th.Table(problem.to_config(), "problem"))
    for x, y in zip(jax.tree.leaves(problem), jax.tree.leaves(again)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-15)
    assert again.to_config() == problem.to_config()
    # the second layer's rate is an optimizer setting (a parameter group's lr)
    opt = th.SGD(0.5, batch=2, group_lr={"second_layer": th.schedules.cosine(0.3, 5.0)})
    assert th.optimizer_from_config(th.Table(opt.to_config(), "optimizer")).to_config() == opt.to_config()
    with pytest.raises(th.ConfigError, match=r"problem.lr_second: .*group_lr = \{ second_layer"):
        CommitteeMachine.from_config(th.Table({"K": 2, "M": 2, "lr_second": 0.3}, "problem"))
    job = config.load(None, "committee")
    assert job.problem.K == 2 and job.simulation["d"] == 500 and "plateau" not in job.theory


def test_curve_save_and_load(tmp_path):
    problem = CommitteeMachine(2, 2)
    curve = th.predict(problem, th.SGD(0.5), t=10.0, num_points=11, plateau=False)
    curve.save(tmp_path / "c")
    back = th.Curve.load(tmp_path / "c")
    np.testing.assert_allclose(np.asarray(back.risk), np.asarray(curve.risk))
    np.testing.assert_allclose(np.asarray(back.state.Q), np.asarray(curve.state.Q))


@pytest.mark.parametrize("build, message", [
    (lambda: CommitteeMachine(0, 2), "CommitteeMachine.K must be an integer >= 1"),
    (lambda: CommitteeMachine(2, 1.5), "CommitteeMachine.M must be an integer >= 1"),
    (lambda: CommitteeMachine(2, 2, "sigmoidish"), "CommitteeMachine.activation must be one of"),
    (lambda: CommitteeMachine(2, 2, T=[[1.0, 2.0], [2.0, 1.0]]), "CommitteeMachine.T must be positive semi-definite"),
    (lambda: CommitteeMachine(2, 2, T=[[1.0, 0.5], [0.4, 1.0]]), "CommitteeMachine.T must be symmetric"),
    (lambda: CommitteeMachine(2, 2, T=jnp.eye(3)), r"CommitteeMachine.T must have shape \(2, 2\)"),
    (lambda: CommitteeMachine(2, 2, noise=-0.1), "CommitteeMachine.noise must be >= 0"),
    (lambda: th.SGD(0.5, group_lr={"second_layer": 0.0}), r"SGD.group_lr.second_layer must be > 0"),
    (lambda: th.predict(CommitteeMachine(2, 2), th.SGD(0.5, group_lr={"second_layer": 0.1}), t=1.0),
     "SGD.group_lr: committee trains the parameter groups first_layer \\(got 'second_layer'\\)"),
    (lambda: CommitteeMachine(2, 2, init_scale=0.0), "CommitteeMachine.init_scale must be > 0"),
    (lambda: CommitteeMachine(2, 2, teacher_second_layer=[1.0]), "teacher_second_layer must be a 1-D array of length 2"),
    (lambda: CommitteeMachine(2, 2, init=Overlaps(jnp.eye(3), jnp.zeros((2, 2)), jnp.ones(2))),
     r"CommitteeMachine.init.Q must have shape \(2, 2\)"),
    (lambda: CommitteeMachine(2, 2, init=Overlaps(jnp.eye(2) * 0.1, jnp.eye(2), jnp.ones(2))),
     r"CommitteeMachine.init: \[\[Q, R\], \[Rᵀ, T\]\] must be positive semi-definite"),
    (lambda: th.SGD(0.0), "SGD.lr must be > 0"),
    (lambda: th.SGD(-1.0), "SGD.lr must be > 0"),
    (lambda: th.predict(CommitteeMachine(2, 2), th.SGD(0.5), t=1.0, init={"Q": [[1.0]]}),
     "init.R: missing required field"),
])
def test_bad_input_names_the_field(build, message):
    with pytest.raises(ValueError, match=message):
        build()
