"""Optimizers without a theory are simulated on any family with no edit of it: sign-SGD (an
optimizer from outside hild, tests/plugins/hild_toy) and optax's Adam passed as it is, on least
squares and on the committee machine. A simulation in a rotated basis refuses rules that are
not rotation-invariant; a theory registered from outside for a new pair is found by the pair."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import hild
from hild import simulate
from hild import theory as th
from hild.compare import config
from hild_toy import SignSGD

LEAST_SQUARES = th.LinearRegression(th.spectra.power_law(60, 1.0), noise=0.1)
COMMITTEE = th.CommitteeMachine(2, 2, "erf")


@pytest.mark.parametrize("problem, d, lr", [(LEAST_SQUARES, None, 4e-3),
                                             pytest.param(COMMITTEE, 60, 5e-3, marks=pytest.mark.slow)],
                         ids=["least_squares", "committee"])
def test_sign_sgd_and_adam_learn_and_their_first_steps_agree(problem, d, lr):
    """Adam's first step is -lr g/(|g| + eps): sign-SGD's, to eps. Both then learn."""
    one = dict(steps=1, num_points=2, seeds=3, key=1, d=d, dtype="float64")
    sign = simulate.simulate(problem, SignSGD(lr), **one)
    adam = simulate.simulate(problem, optax.adam(lr, eps=1e-30), **one)
    np.testing.assert_allclose(adam.risk, sign.risk, rtol=1e-12)
    np.testing.assert_allclose(jnp.asarray(adam.state.Q if d else adam.state.a),
                               jnp.asarray(sign.state.Q if d else sign.state.a), rtol=1e-10)
    for rule in (SignSGD(lr, batch=4), hild.Optax(optax.adam(lr), batch=4)):
        run = simulate.simulate(problem, rule, t=8.0, num_points=3, seeds=2, key=2, d=d)
        mean = run.mean()
        assert np.all(np.isfinite(mean)) and mean[-1] < 0.7 * mean[0], (type(rule).__name__, mean)


def test_optax_sgd_is_hilds_sgd():
    """To rounding: hild's SGD multiplies by its float64 rate, optax.sgd by a Python float."""
    run = lambda opt: simulate.simulate(LEAST_SQUARES, opt, t=2.0, num_points=5, seeds=2, key=3,
                                        dtype="float64")
    mine, theirs = run(th.SGD(0.5, batch=2)), run(hild.Optax(optax.sgd(0.5), batch=2))
    np.testing.assert_allclose(mine.risk, theirs.risk, rtol=1e-13)


def test_a_rotated_problem_refuses_rules_that_are_not_rotation_invariant():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    covariance = basis @ np.diag(np.linspace(0.2, 2.0, 20)) @ basis.T
    rotated = th.LinearRegression.from_covariance(covariance, rng.standard_normal(20) / 5)
    assert rotated.rotated and not th.LinearRegression.from_covariance(np.eye(20), np.ones(20)).rotated
    for rule in (SignSGD(1e-3), optax.adam(1e-3)):
        with pytest.raises(ValueError, match="is not rotation-invariant, and the linreg simulation "
                                             "runs in the eigenbasis of the covariance"):
            simulate.simulate(rotated, rule, steps=2, seeds=2, key=0)
    for rule in (th.SGD(0.5), hild.Optax(optax.sgd(0.5), rotation_invariant=True)):
        simulate.simulate(rotated, rule, steps=2, seeds=2, key=0)


def test_a_pair_without_a_theory_is_refused_by_predict_naming_both():
    with pytest.raises(TypeError, match=r"no theory for SignSGD on CommitteeMachine \(committee\)"):
        th.predict(COMMITTEE, SignSGD(1e-3), t=1.0)
    with pytest.raises(TypeError, match=r"no theory for Optax on LinearRegression \(linreg\)"):
        th.predict(LEAST_SQUARES, optax.adam(1e-3), t=1.0)


class PerStepSGD(th.AbstractOptimizer):
    """SGD with its step γ given per step in θ units (γ = η/d): a new optimizer whose theory
    is registered below, from outside hild."""

    kind = "per_step_sgd_of_the_tests"
    rotation_invariant = True
    gamma: float = eqx.field(converter=jnp.asarray)
    batch: int = eqx.field(default=1, static=True)

    def init(self, params, clock):
        return ()

    def update(self, params, state, batch, clock):
        grads = batch.gradient(params)
        d = params["weights"].shape[0]
        return {k: p - self.gamma * d * grads[k] for k, p in params.items()}, state


@th.register_theory(th.LinearRegression, PerStepSGD, methods=("exact",))
def _per_step_theory(problem, optimizer, state, method):
    return th.linreg.sgd_theory(problem, th.SGD(optimizer.gamma * problem.d, optimizer.batch), state,
                                "exact")


def test_a_theory_registered_from_outside_is_found_by_the_pair():
    gamma = 0.5 / LEAST_SQUARES.d
    mine = th.predict(LEAST_SQUARES, PerStepSGD(gamma, batch=2), t=4.0, num_points=9)
    np.testing.assert_array_equal(mine.risk, th.predict(LEAST_SQUARES, th.SGD(0.5, batch=2), t=4.0,
                                                        num_points=9).risk)
    with pytest.raises(ValueError, match="method 'limit' of linreg covers Nesterov, SGD; use method "
                                         "'exact' for PerStepSGD"):
        th.predict(LEAST_SQUARES, PerStepSGD(gamma), t=1.0, method="limit")
    runs = simulate.simulate(LEAST_SQUARES, PerStepSGD(gamma, batch=2), t=4.0, num_points=9,
                             seeds=200, key=4, dtype="float64")
    assert hild.agreement(mine, runs).within(3.5)


def test_an_optax_rule_by_name_in_a_config():
    job = config.loads('''
family = "linreg"
[problem]
spectrum = { kind = "isotropic", d = 10 }
[optimizer]
kind = "optax"
transform = "adam"
batch = 4
args = { learning_rate = 0.001, b1 = 0.8 }
[horizon]
t = 1.0
''')
    assert isinstance(job.optimizer, th.Optax) and job.optimizer.batch == 4
    assert job.optimizer.to_config() == {"kind": "optax", "transform": "adam", "batch": 4,
                                         "args": {"b1": 0.8, "learning_rate": 0.001},
                                         "rotation_invariant": False}
    with pytest.raises(th.ConfigError, match="optimizer: Optax.transform: optax has no 'adamz'"):
        config.loads(job.text.replace('"adam"', '"adamz"'))
