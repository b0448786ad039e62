"""The simulators' gradients are `jax.grad` of each family's batch loss; here they are held to
the hand-derived formulas of docs/theory.md (float64, 1e-12), which checks the losses."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hild import simulate
from hild import theory as th
from hild.theory.gaussian_mixture import margin_force


def _batch(problem, d, batch, key=0):
    sim = simulate.simulation_of(problem)
    params, fixed, data_key = sim.draw(problem, jax.random.key(key), d, jnp.float64)
    params = jax.tree.map(lambda p: p + 0.3 * jax.random.normal(jax.random.key(7), p.shape, p.dtype),
                          params)  # away from the start, where some gradients vanish
    sample = sim.sample(problem, fixed, data_key, batch)
    return sim, params, fixed, sample


def _least_squares(x, y, w):
    batch, d = x.shape
    return {"weights": x.T @ (x @ w - y) / (batch * d)}


_rng = np.random.default_rng(0)
CASES = {
    "linreg": (th.LinearRegression(th.spectra.power_law(30, 1.0), noise=0.2), None),
    "power_law_rf": (th.PowerLawRandomFeatures(1.0, 0.7, 64, 16), None),
    "dataset": (th.DataSetRegression(_rng.standard_normal((50, 8)), _rng.standard_normal(50)), None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_least_squares(name):
    problem, d = CASES[name]
    sim, params, fixed, (x, y) = _batch(problem, d or problem.d, 5)
    np.testing.assert_allclose(sim.gradient(problem, fixed, params, (x, y))["weights"],
                               _least_squares(x, y, params["weights"])["weights"], rtol=1e-12)


def test_full_batch_gd_with_ridge():
    problem = th.FullBatchRegression(th.spectra.power_law(20, 1.0), 30, noise=0.3, ridge=0.1)
    sim, params, fixed, sample = _batch(problem, 20, 1)
    x, y, _, _ = fixed
    theta = params["weights"]
    np.testing.assert_allclose(sim.gradient(problem, fixed, params, sample)["weights"],
                               x.T @ (x @ theta - y) / 30 + 0.1 * theta, rtol=1e-12)


@pytest.mark.parametrize("activation", ["erf", "relu", "tanh"])
def test_committee_both_layers(activation):
    problem = th.CommitteeMachine(2, 3, activation, train_second_layer=True, noise=0.1)
    sim, params, fixed, (x, y) = _batch(problem, 50, 6)
    W, v = params["first_layer"], params["second_layer"]
    batch, d = x.shape
    act = problem.act
    lam = x @ W.T / math.sqrt(d)
    delta = act(lam) @ v - y
    coef = v[None, :] * act.derivative(lam) * delta[:, None]
    grads = sim.gradient(problem, fixed, params, (x, y))
    np.testing.assert_allclose(grads["first_layer"], coef.T @ x / (batch * math.sqrt(d)), rtol=1e-12)
    np.testing.assert_allclose(grads["second_layer"], act(lam).T @ delta / (batch * d), rtol=1e-12)


@pytest.mark.parametrize("kwargs", [dict(link="relu", noise=0.1, weight_decay=0.2),
                                    dict(link="sign", activation="erf", loss="logistic"),
                                    dict(link="quadratic", spherical=True)],
                         ids=["square_decay", "logistic", "spherical"])
def test_single_index(kwargs):
    problem = th.SingleIndex(**kwargs)
    sim, params, fixed, (x, y) = _batch(problem, 40, 7)
    v = params["weights"]
    batch, d = x.shape
    scale = jnp.linalg.norm(v) / math.sqrt(d) if problem.spherical else 1.0
    w = v / scale
    lam = x @ w / math.sqrt(d)
    f, df = jax.jvp(problem.sigma, (lam,), (jnp.ones_like(lam),))
    err = (y - f) * df if problem.loss == "square" else y * jax.nn.sigmoid(-y * f) * df
    expected = scale * (-(err @ x) / (batch * math.sqrt(d)) + problem.weight_decay * w / d)
    np.testing.assert_allclose(sim.gradient(problem, fixed, params, (x, y))["weights"], expected,
                               rtol=1e-12)


@pytest.mark.parametrize("loss", ["logistic", "square", "hinge"])
def test_gaussian_mixture_weights_and_bias(loss):
    problem = th.GaussianMixture(0.3, 0.5, loss, class_weights=(1.5, 0.5))
    sim, params, fixed, (x, y) = _batch(problem, 40, 8)
    batch, d = x.shape
    lam = x @ params["weights"] / math.sqrt(d) + params["bias"]
    phi = jnp.where(y > 0, 1.5, 0.5) * y * margin_force(loss, y * lam)
    grads = sim.gradient(problem, fixed, params, (x, y))
    np.testing.assert_allclose(grads["weights"], -(phi @ x) / (batch * math.sqrt(d)), rtol=1e-12)
    np.testing.assert_allclose(grads["bias"], -jnp.sum(phi) / (batch * d), rtol=1e-12)
