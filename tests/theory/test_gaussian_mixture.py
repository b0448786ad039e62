"""Gaussian mixtures: the per-class expectations against direct integration, the effects of
class imbalance in the ODEs, bad input (docs/theory.md, Gaussian mixtures)."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

from hild import theory as th
from hild.theory.gaussian_mixture import GaussianMixture, margin_force, margin_loss


@pytest.mark.parametrize("loss", ["logistic", "hinge", "square"])
def test_class_moments_match_direct_integration(loss):
    problem = GaussianMixture(0.3, 0.7, loss)
    for h, s in ((0.4, 0.8), (-0.3, 1.5), (1.2, 0.3)):
        got = problem._class_moments(jnp.asarray(h), jnp.asarray(s))
        kink = [(1 - h) / s] if loss == "hinge" else None
        for value, power, of in zip(got, (0, 1, 0, 0), ("psi", "psi", "psi2", "loss")):
            def integrand(z, h=h, s=s, power=power, of=of):
                v = jnp.asarray(h + s * z)
                f = {"psi": margin_force(loss, v), "psi2": margin_force(loss, v) ** 2,
                     "loss": margin_loss(loss, v)}[of]
                return float(f) * z**power * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

            want = integrate.quad(integrand, -12, 12, points=kink, limit=200)[0]
            assert float(value) == pytest.approx(want, abs=1e-9)


def test_imbalance_bias_drift_and_reweighting():
    """ρ = 0.2: the bias drifts toward the majority (b < 0) and the minority's error stays
    high; balanced weights keep b = 0 and equal errors; over-weighting the minority makes it
    the better-classified class."""
    opt = th.SGD(0.5)
    plain = th.predict(GaussianMixture(0.2), opt, t=20.0, num_points=5)
    assert float(plain.state.b[-1]) < -0.3
    assert plain.observables["error_plus"][-1] > 3 * plain.observables["error_minus"][-1]
    balanced = th.predict(GaussianMixture(0.2, class_weights="balanced"), opt, t=20.0, num_points=5)
    np.testing.assert_allclose(balanced.state.b, 0.0, atol=1e-12)
    np.testing.assert_allclose(balanced.observables["error_plus"],
                               balanced.observables["error_minus"], rtol=1e-10)
    over = th.predict(GaussianMixture(0.2, class_weights=[6.0, 0.5]), opt, t=20.0, num_points=5)
    assert over.observables["error_plus"][-1] < over.observables["error_minus"][-1]
    for curve in (plain, balanced, over):  # the overall error weighs the classes by ρ
        obs = curve.observables
        np.testing.assert_allclose(obs["error"], 0.2 * obs["error_plus"] + 0.8 * obs["error_minus"])


BAD = [
    (dict(rho=0.0), r"GaussianMixture.rho must be in \(0, 1\)"),
    (dict(rho=1.0), r"GaussianMixture.rho must be in \(0, 1\)"),
    (dict(delta=0.0), "GaussianMixture.delta must be > 0"),
    (dict(delta=-1.0), "GaussianMixture.delta must be > 0"),
    (dict(loss="exponential"), "GaussianMixture.loss must be one of"),
    (dict(class_weights="inverse"), "class_weights must be two numbers"),
    (dict(class_weights=[1.0, -1.0]), "class_weights must be >= 0"),
    (dict(class_weights=[1.0, 2.0, 3.0]), "class_weights must be two numbers"),
    (dict(init={"m": 0.5, "q": 0.1, "b": 0.0}), "m² <= q"),
    (dict(init={"m": 0.0, "q": 0.0, "b": 0.0}), "init.q must be > 0"),
]


@pytest.mark.parametrize("kwargs, message", BAD)
def test_bad_input_names_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(**kwargs)
