"""SGD on a real data set's rows (drawn with replacement) against the exact recursion on the
data set's own distribution: within 3 standard errors at every recorded point; the Gaussian
equivalent misses where the data are far from Gaussian. (With key 7 instead of 8, digits_relu
had one point at 3.36 SE among 9, which fell to 1.76 with 12000 seeds: a fluctuation.)"""

import numpy as np
import pytest

from hild import theory as th
from hild.compare.agreement import agreement
from hild.simulate import simulate

CASES = {
    # data set, features, lr, batch, momentum, t; the Gaussian equivalent's |z| must exceed
    "diabetes": (("diabetes", "raw"), 1.0, 1, 0.0, 8.0, 4.0),
    "cancer_momentum": (("breast_cancer", "raw"), 0.15, 2, 0.5, 6.0, 4.0),
    "digits_relu": (("digits", "relu"), 1.0, 1, 0.0, 6.0, None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_sgd_on_the_rows_matches_the_exact_recursion(name):
    (data, features), lr, batch, momentum, t, gauss_z = CASES[name]
    problem = th.DataSetRegression.from_dataset(data, features, width=24)
    opt = th.SGD(lr, batch=batch, momentum=momentum)
    sim = simulate(problem, opt, t=t, num_points=10, seeds=3000, key=8, dtype="float64",
                   save_state=False)
    exact = agreement(th.predict(problem, opt, t=t, num_points=10), sim)
    assert exact.within(3.0), str(exact)
    if gauss_z is not None:
        gauss = agreement(th.predict(problem, opt, t=t, num_points=10, method="gaussian"), sim)
        assert gauss.max_abs_z > gauss_z, str(gauss)


def test_simulation_measures_the_exact_risk_of_the_data_set():
    """The simulated risk is the excess risk over the least-squares fit on every row."""
    problem = th.DataSetRegression.from_dataset("diabetes")
    sim = simulate(problem, th.SGD(0.5), t=1.0, num_points=2, seeds=2, key=0, dtype="float64")
    x, y = np.asarray(problem.features), np.asarray(problem.targets)
    fit = np.linalg.lstsq(x, y, rcond=None)[0]
    np.testing.assert_allclose(sim.risk[:, 0], 0.5 * np.mean((x @ fit) ** 2), rtol=1e-10)
