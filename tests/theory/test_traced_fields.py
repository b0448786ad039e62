"""Every family's problem is predictable under jit, vmap and grad over its float array fields,
and the families that take scalar settings are constructible inside jit (issue 25)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hild.theory as th

jax.config.update("jax_enable_x64", True)

SMALL = {  # family -> (problem, optimizer, horizon): cheap, every method's default
    "linreg": lambda: (th.LinearRegression(np.linspace(0.5, 1.5, 8), noise=0.1),
                       th.SGD(0.5), {"steps": 40}),
    "fullbatch": lambda: (th.FullBatchRegression(np.ones(8), 16, noise=0.1, ridge=0.1),
                          th.SGD(0.3), {"steps": 20}),
    "dataset": lambda: (th.DataSetRegression(*_small_data()), th.SGD(0.3), {"steps": 20}),
    "power_law_rf": lambda: (th.PowerLawRandomFeatures(1.0, 0.7, 32, 8), th.SGD(0.2),
                             {"steps": 20}),
    "single_index": lambda: (th.SingleIndex("relu", noise=0.1, init_scale=0.3), th.SGD(0.3),
                             {"t": 1.0}),
    "gaussian_mixture": lambda: (th.GaussianMixture(0.4, init_scale=0.2), th.SGD(0.3),
                                 {"t": 1.0}),
    "committee": lambda: (th.CommitteeMachine(2, 2, "erf", init_scale=0.5), th.SGD(0.3),
                          {"t": 1.0}),
    "sensing": lambda: (th.RankOneSensing("bilinear", noise=0.1), th.ProxLinear(0.3),
                        {"steps": 10}),
    "glm": lambda: (th.GLM(np.r_[np.full(4, 1.5), np.full(4, 0.5)], link="relu", noise=0.1),
                    th.SGD(0.3), {"t": 1.0}),
    "multi_index": lambda: (th.MultiIndex(2, 2, np.r_[np.full(4, 1.5), np.full(4, 0.5)]),
                            th.SGD(0.3), {"t": 1.0}),
    "multipass": lambda: (th.MultiPassRegression(np.ones(8), 16, noise=0.1, ridge=0.1),
                          th.SGD(0.3), {"steps": 20}),
}


def _small_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 4))
    return x, x @ rng.standard_normal(4) + 0.1 * rng.standard_normal(20)


def test_every_registered_family_is_covered():
    own = {name for name in th.family_names()  # a plugin another test loaded is not hild's
           if th.problem_class(name).__module__.startswith("hild.")}
    assert set(SMALL) == own


def _final_risk(family):
    problem, optimizer, horizon = SMALL[family]()
    arrays, static = eqx.partition(problem, eqx.is_inexact_array)

    def final_risk(fields):
        return th.predict(eqx.combine(fields, static), optimizer, num_points=3, save_state=False,
                          **horizon).risk[-1]

    return final_risk, arrays


ODE_FAMILIES = {"committee", "gaussian_mixture", "single_index", "sensing", "glm",
                "multi_index"}  # slower to trace
TRACED = [pytest.param(f, marks=pytest.mark.slow) if f in ODE_FAMILIES else f for f in sorted(SMALL)]


@pytest.mark.parametrize("family", TRACED)
def test_every_family_traces_under_jit_vmap_and_grad(family):
    """Tracing only (no compilation): a traced field reaching Python (float(), numpy) fails."""
    final_risk, arrays = _final_risk(family)
    stacked = jax.tree.map(lambda a: jnp.stack([a, a]), arrays)
    assert jax.eval_shape(jax.vmap(final_risk), stacked).shape == (2,)
    grads = jax.eval_shape(jax.grad(final_risk), arrays)
    assert jax.tree.structure(grads) == jax.tree.structure(arrays)


COMPILED = sorted(SMALL)


@pytest.mark.slow
@pytest.mark.parametrize("family", COMPILED)
def test_predict_under_jit_vmap_and_grad_over_the_array_fields(family):
    final_risk, arrays = _final_risk(family)

    eager = final_risk(arrays)
    assert np.isfinite(eager)
    np.testing.assert_allclose(jax.jit(final_risk)(arrays), eager, rtol=1e-10)
    stacked = jax.tree.map(lambda a: jnp.stack([a, a]), arrays)
    # vmap batches the linear algebra (e.g. a drawn data set's eigh) along another path:
    # round-off, amplified by the recursion to ~3e-10 for multipass
    np.testing.assert_allclose(jax.vmap(final_risk)(stacked), [eager, eager], rtol=1e-9)
    grads = jax.grad(final_risk)(arrays)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


BUILDERS = [
    lambda s: th.SingleIndex("relu", noise=0.1, init_scale=s),
    lambda s: th.GaussianMixture(0.4, init_scale=s),
    lambda s: th.LinearRegression(s * jnp.ones(4), noise=0.1),
    lambda s: th.CommitteeMachine(2, 2, "erf", init_scale=s),
]
BUILT = ["single_index", "gaussian_mixture", "linreg", "committee"]


def _built_final_risk(s, build):
    return th.predict(build(s), th.SGD(0.3), t=0.5, num_points=2, save_state=False).risk[-1]


@pytest.mark.parametrize("build", [BUILDERS[0], pytest.param(BUILDERS[1], marks=pytest.mark.slow),
                                   BUILDERS[2]], ids=BUILT[:3])
def test_built_from_a_traced_scalar(build):
    assert jax.eval_shape(jax.grad(lambda s: _built_final_risk(s, build)), 0.3).shape == ()


@pytest.mark.slow
@pytest.mark.parametrize("build", BUILDERS, ids=BUILT)
def test_built_and_predicted_inside_jit(build):
    final_risk = lambda s: _built_final_risk(s, build)  # noqa: E731
    eager = final_risk(0.3)
    np.testing.assert_allclose(jax.jit(final_risk)(0.3), eager, rtol=1e-10)
    assert np.isfinite(jax.grad(final_risk)(0.3))


@pytest.mark.parametrize("eigenvalues", [[1.0, 1.0, 1.0], [2.0, 2.0, 0.5], [3.0, 1.0, 0.2]])
def test_psd_sqrt_gradient_matches_finite_differences_at_repeated_eigenvalues(eigenvalues):
    """The teacher factor of the committee's random start: eigh's own derivative is NaN at
    T = I (the committee was not differentiable in T there)."""
    from hild.theory.committee import psd_sqrt

    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    t = q @ np.diag(eigenvalues) @ q.T
    weights = jnp.arange(9.0).reshape(3, 3)

    def f(m):
        return jnp.sum(jnp.sin(psd_sqrt(m)) * weights)

    np.testing.assert_allclose(psd_sqrt(t) @ psd_sqrt(t), t, atol=1e-12)
    direction = rng.standard_normal((3, 3))
    direction = direction + direction.T
    h = 1e-6
    finite_difference = (f(t + h * direction) - f(t - h * direction)) / (2 * h)
    np.testing.assert_allclose(jnp.sum(jax.grad(f)(jnp.asarray(t)) * direction),
                               finite_difference, rtol=1e-7)
