"""Single-index models: closed forms against the polar quadrature, the information exponent,
the ODEs against their closed-form solutions, bad input (docs/theory.md, Single-index models)."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from hild import theory as th
from hild.theory._links import hermite_coefficients, make_link
from hild.theory.single_index import SingleIndex, SingleIndexState, information_exponent

POINTS = [(0.3, 0.5), (0.1, 1.2), (0.8, 0.9), (-0.4, 0.3), (0.0, 1.0)]


@pytest.mark.parametrize("name", ["linear", "quadratic", "erf", "relu"])
def test_closed_forms_match_the_polar_rule(name):
    """The closed forms (the phase-retrieval and linear ODE terms of docs/theory.md, the committee's erf
    integrals, Cho–Saul for relu) against the generic 2-D rule on the same functions."""
    fn = make_link(name, "link")
    closed = SingleIndex(name, noise=0.3)
    generic = SingleIndex(lambda z: fn(z), lambda z: fn(z), noise=0.3)
    for m, q in POINTS:
        args = (jnp.asarray(m), jnp.asarray(q))
        np.testing.assert_allclose(closed.expectations(*args), generic.expectations(*args),
                                   rtol=1e-10, atol=1e-11)
        np.testing.assert_allclose(closed.risk(*args), generic.expectations(*args)[3], atol=1e-11)


def test_polar_rule_against_monte_carlo_for_a_mismatched_pair():
    """sign teacher, relu student (kinks on both fields): the rule against 4e6 samples."""
    problem = SingleIndex("sign", "relu", noise=0.2)
    m, q = 0.35, 0.7
    rng = np.random.default_rng(0)
    teacher = rng.standard_normal(4_000_000)
    lam = m * teacher + math.sqrt(q - m * m) * rng.standard_normal(teacher.size)
    err = (np.sign(teacher) - np.maximum(lam, 0)) * (lam > 0)
    samples = [err * teacher, err * lam, err**2 + 0.04 * (lam > 0),
               0.5 * (np.sign(teacher) - np.maximum(lam, 0)) ** 2]
    got = problem.expectations(jnp.asarray(m), jnp.asarray(q))
    for value, s in zip(got, samples):
        assert abs(float(value) - s.mean()) < 4 * s.std() / math.sqrt(s.size)


def test_information_exponent_and_hermite_coefficients():
    assert [information_exponent(g) for g in ("linear", "relu", "erf", "sign", "tanh")] == [1] * 5
    assert information_exponent("quadratic") == 2
    assert information_exponent("he3") == 3 and information_exponent("he4") == 4
    assert information_exponent(lambda z: z**3 - 3 * z) == 3
    c = hermite_coefficients("quadratic", 4)
    np.testing.assert_allclose(c, [1.0, 0.0, math.sqrt(2.0), 0.0, 0.0], atol=1e-10)
    np.testing.assert_allclose(hermite_coefficients("sign", 1)[1], math.sqrt(2 / math.pi), atol=1e-12)


def test_linear_ode_matches_its_closed_form():
    """d(2ε)/dt = −η'(2 − η')(2ε) + η'²σ², η' = η/(B(1 − β)) (docs/theory.md)."""
    problem = SingleIndex("linear", noise=0.4, init=SingleIndexState(0.2, 0.5))
    opt = th.SGD(0.6, batch=2, momentum=0.25)
    curve = th.predict(problem, opt, t=6.0, num_points=13)
    eta = 0.6 / (2 * 0.75)
    rate, floor = eta * (2 - eta), eta**2 * 0.16 / (eta * (2 - eta))
    eps0 = 1 - 2 * 0.2 + 0.5
    want = 0.5 * (floor + (eps0 - floor) * np.exp(-rate * np.asarray(curve.t)))
    np.testing.assert_allclose(curve.risk, want, rtol=1e-6)
    assert problem.stability_limit(opt) == pytest.approx(2 * 2 * 0.75)


def test_spherical_phase_retrieval_matches_the_escape_formula():
    """dm/dt = am − bm³, b = 4η(1 − 6η), a = b − 2η²σ² (docs/theory.md): the solution
    m² = a m0² e^{2at} / (a + b m0² (e^{2at} − 1))."""
    eta, var, m0 = 0.05, 0.25, 0.03
    problem = SingleIndex("quadratic", spherical=True, noise=math.sqrt(var))
    curve = th.predict(problem, th.SGD(eta), t=40.0, num_points=21, init={"m": m0, "q": 1.0})
    b = 4 * eta * (1 - 6 * eta)
    a = b - 2 * eta**2 * var
    grow = np.exp(2 * a * np.asarray(curve.t))
    want = np.sqrt(a * m0**2 * grow / (a + b * m0**2 * (grow - 1)))
    np.testing.assert_allclose(curve.observables["alignment"], want, rtol=1e-6)
    assert curve.observables["alignment"][-1] > 0.5  # it escaped


BAD = [
    (dict(link="cubic"), "SingleIndex.link must be one of"),
    (dict(link="he0"), "SingleIndex.link must be one of"),
    (dict(activation="sign"), "must not be 'sign'"),
    (dict(loss="hinge"), "SingleIndex.loss must be one of"),
    (dict(loss="logistic"), "link must be 'sign' for the logistic loss"),
    (dict(link="sign", activation="linear", loss="logistic", noise=0.1), "noise must be 0"),
    (dict(noise=-0.1), "SingleIndex.noise must be >= 0"),
    (dict(weight_decay=-1.0), "SingleIndex.weight_decay must be >= 0"),
    (dict(spherical=True, weight_decay=0.1), "weight_decay must be 0 when spherical"),
    (dict(init_scale=0.0), "SingleIndex.init_scale must be > 0"),
    (dict(init={"m": 0.9, "q": 0.5}), "m² <= q"),
    (dict(init={"m": 0.1}), "SingleIndex.init must be"),
    (dict(spherical=True, init={"m": 0.1, "q": 2.0}), "q must be 1 for a spherical run"),
    (dict(link="quadratic", init={"m": 0.0, "q": 1.0}), "cannot leave it"),
]


@pytest.mark.parametrize("kwargs, message", BAD)
def test_bad_input_names_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("²", "²")):
        SingleIndex(**kwargs)


def test_even_link_from_m0_zero_says_why():
    """The default start m = 0 of an even link (and of he3): one line saying why."""
    for problem in (SingleIndex("quadratic", spherical=True), SingleIndex("he3", "relu")):
        with pytest.raises(ValueError, match="m = 0 is a fixed point"):
            th.predict(problem, th.SGD(0.05), t=1.0)
