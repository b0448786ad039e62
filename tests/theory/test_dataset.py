"""Least squares on a data set's empirical distribution: the exact recursion against exact
enumeration of SGD's sample paths, its Gaussian limit, and bad input."""

import itertools
import sys

import numpy as np
import pytest

from hild import theory as th
from hild.theory import _datasets


def _enumerate_sgd(problem, lr, batch, momentum, steps):
    """E[risk_k] over every sequence of row draws (n^(B·steps) equally likely paths)."""
    x, y = np.asarray(problem.features), np.asarray(problem.targets)
    basis, lam = np.asarray(problem.basis), np.asarray(problem.spectrum)
    teacher = basis @ np.asarray(problem.teacher)
    n, d = x.shape
    draws = list(itertools.product(range(n), repeat=batch))
    mean = np.zeros(steps + 1)
    for path in itertools.product(draws, repeat=steps):
        w = w_prev = basis @ np.asarray(problem.init)
        risks = [0.5 * lam @ (basis.T @ (w - teacher)) ** 2]
        for k, rows in enumerate(path):
            xb, yb = x[list(rows)], y[list(rows)]
            grad = xb.T @ (xb @ w - yb) / batch
            w, w_prev = w - lr(k * batch / d) / d * grad + momentum * (w - w_prev), w
            risks.append(0.5 * lam @ (basis.T @ (w - teacher)) ** 2)
        mean += np.array(risks)
    return mean / len(draws) ** steps


def _small_problem():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)) ** 3  # heavy-tailed rows: far from Gaussian
    return th.DataSetRegression(x, rng.standard_normal(4), init=rng.standard_normal(3))


@pytest.mark.parametrize("batch, momentum, schedule", [(1, 0.0, False), (2, 0.5, False),
                                                        (1, 0.3, True)])
def test_exact_recursion_equals_the_mean_over_every_sample_path(batch, momentum, schedule):
    problem = _small_problem()
    lr = th.schedules.cosine(1.2, t_max=2.0) if schedule else th.schedules.constant(0.9)
    steps = 3 if batch == 2 else 4
    curve = th.predict(problem, th.SGD(lr, batch=batch, momentum=momentum), steps=steps,
                       num_points=steps + 1)
    brute = _enumerate_sgd(problem, lambda t: float(lr(t)), batch, momentum, steps)
    np.testing.assert_allclose(curve.risk, brute, rtol=1e-11)
    gauss = th.predict(problem, th.SGD(lr, batch=batch, momentum=momentum), steps=steps,
                       num_points=steps + 1, method="gaussian")
    assert np.max(np.abs(np.asarray(gauss.risk) / brute - 1)) > 0.2  # the test can tell


def test_gaussian_method_is_linear_regression_on_the_gaussian_equivalent():
    problem = _small_problem()
    equivalent = problem.gaussian_equivalent()
    np.testing.assert_allclose(equivalent.noise**2, np.mean(np.asarray(problem.residual) ** 2))
    opt = th.SGD(0.4, batch=2, momentum=0.2)
    np.testing.assert_allclose(th.predict(problem, opt, steps=30, method="gaussian").risk,
                               th.predict(equivalent, opt, steps=30).risk, rtol=1e-13)


def test_large_gaussian_sample_approaches_the_gaussian_recursion():
    """n = 40000 Gaussian rows with a linear target plus independent noise: the empirical
    fourth moments are Gaussian up to O(n^-1/2), so the two methods agree to ~1%."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40_000, 4)) * np.sqrt([3.0, 1.0, 0.5, 0.1])
    y = x @ np.array([0.5, -1.0, 1.0, 2.0]) + 0.5 * rng.standard_normal(40_000)
    problem = th.DataSetRegression(x, y, preprocess="none")
    opt = th.SGD(0.8, batch=1)
    exact = th.predict(problem, opt, t=30.0, num_points=20).risk
    gauss = th.predict(problem, opt, t=30.0, num_points=20, method="gaussian").risk
    assert np.max(np.abs(np.asarray(exact) / np.asarray(gauss) - 1)) < 0.02
    assert abs(problem.fourth_moment_ratio() - 1) < 0.03


def test_teacher_is_the_least_squares_fit_and_the_residual_is_orthogonal():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((50, 6)), rng.standard_normal(50)
    problem = th.DataSetRegression(x, y)
    z = np.asarray(problem.eigen_inputs())
    np.testing.assert_allclose(z.T @ np.asarray(problem.residual), 0.0, atol=1e-10)
    np.testing.assert_allclose(np.mean(np.asarray(problem.spectrum)), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.mean(np.asarray(problem.targets) ** 2), 1.0, rtol=1e-12)


def test_constant_column_is_a_zero_eigenvalue_when_centred():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((30, 4))
    x[:, 2] = 7.0
    problem = th.DataSetRegression(x, rng.standard_normal(30))
    assert float(problem.spectrum[-1]) == pytest.approx(0.0, abs=1e-12)
    assert float(problem.teacher[-1]) == 0.0
    assert problem.metadata()["constant_columns"] == [2]
    curve = th.predict(problem, th.SGD(0.5), t=5.0)
    assert not bool(curve.diverged) and np.all(np.isfinite(curve.risk))
    with pytest.raises(ValueError, match=r"X\[:, 2\] is constant.*preprocess = 'center'"):
        th.DataSetRegression(x, rng.standard_normal(30), preprocess="standardize")


@pytest.mark.parametrize("x, y, message", [
    (np.array([[1.0, np.nan], [0.0, 1.0]]), [1.0, 2.0], r"X must be finite \(got nan at X\[0, 1\]"),
    (np.array([[1.0, 0.0], [np.inf, 1.0]]), [1.0, 2.0], r"X must be finite \(got inf at X\[1, 0\]"),
    (np.ones((3, 2)), [1.0, 2.0], r"y must be a 1-D array of length 3"),
    (np.ones((3, 2)), [1.0, 2.0, np.nan], r"y must be finite"),
    (np.ones((1, 2)), [1.0], r"X must have at least 2 rows \(got 1\)"),
    (np.ones(5), np.ones(5), r"X must be a 2-D array"),
    (np.ones((4, 2)), [1.0, 2.0, 3.0, 4.0], r"X: every column is constant"),
    (np.eye(3), [2.0, 2.0, 2.0], r"y: the targets are constant"),
])
def test_bad_data_is_one_line_naming_the_field(x, y, message):
    with pytest.raises(ValueError, match=message) as err:
        th.DataSetRegression(x, y)
    assert "\n" not in str(err.value)


def test_bad_names_and_options():
    with pytest.raises(ValueError, match=r"data must be one of breast_cancer, diabetes, digits \(got 'mnist'\)"):
        th.DataSetRegression.from_dataset("mnist")
    with pytest.raises(ValueError, match=r"features must be one of raw, relu"):
        th.DataSetRegression.from_dataset("diabetes", features="pixels")
    with pytest.raises(ValueError, match=r"preprocess must be one of center, standardize, none"):
        th.DataSetRegression(np.eye(3), [1.0, 2.0, 3.0], preprocess="whiten")
    with pytest.raises(ValueError, match=r"features.width must be an integer >= 1"):
        th.DataSetRegression.from_dataset("diabetes", features="relu", width=0)


def test_missing_extra_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn raises ImportError
    with pytest.raises(ValueError, match=r"^data: 'digits' ships with scikit-learn, which is not "
                                         r"installed: pip install 'hild\[data\]'$"):
        th.DataSetRegression.from_dataset("digits")


def test_shipped_data_sets_and_random_features():
    digits = th.DataSetRegression.from_dataset("digits")
    assert (digits.n, digits.d) == (1797, 64)
    assert int(np.sum(np.asarray(digits.spectrum) < 1e-12)) == 3  # three always-blank pixels
    cancer = th.DataSetRegression.from_dataset("breast_cancer", features="relu", width=40, key=1)
    assert (cancer.n, cancer.d) == (569, 40)
    again = th.DataSetRegression.from_dataset("breast_cancer", features="relu", width=40, key=1)
    np.testing.assert_array_equal(cancer.features, again.features)
    assert np.all(np.asarray(_datasets.relu_features(np.eye(3), 5)) >= 0)


def test_config_round_trip():
    named = th.DataSetRegression.from_dataset("diabetes", features="relu", width=12, key=3)
    back = th.DataSetRegression.from_config(th.Table(named.to_config(), "problem"))
    np.testing.assert_allclose(back.features, named.features)
    rng = np.random.default_rng(4)
    arrays = th.DataSetRegression(rng.standard_normal((6, 2)), rng.standard_normal(6),
                                  init=[0.5, -0.5])
    back = th.DataSetRegression.from_config(th.Table(arrays.to_config(), "problem"))
    np.testing.assert_allclose(back.features, arrays.features, rtol=1e-12)
    np.testing.assert_allclose(back.init, arrays.init, rtol=1e-10, atol=1e-12)
