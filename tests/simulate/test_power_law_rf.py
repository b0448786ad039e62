"""Power-law random features: the theory (exact given W, through the least-squares reduction)
against SGD on the real model (x in R^v, z = W^T x, y = b·x), within a few standard errors
at every checkpoint, at two sizes (docs/theory.md, Power-law random features)."""

import numpy as np
import pytest

from hild import simulate
from hild import agreement
from hild.theory import SGD, PowerLawRandomFeatures, predict


@pytest.mark.parametrize("d, seeds", [(32, 64), (128, 32)])
def test_theory_matches_sgd_on_the_real_model(d, seeds):
    problem = PowerLawRandomFeatures(1.0, 0.7, 512, d, key=1)
    opt = SGD(0.2, batch=2)
    horizon = {"steps": 4000, "num_points": 20, "spacing": "log"}
    curve = predict(problem, opt, **horizon)
    sim = simulate.simulate(problem, opt, **horizon, seeds=seeds, key=3, save_state=False)
    report = agreement(curve, sim, checkpoints=10)
    assert report.max_abs_z < 3.5, report
    # the loss fell by more than an order of magnitude: a real curve, not the plateau
    assert float(curve.risk[-1]) < 0.1 * float(curve.risk[0])
    assert np.all(np.asarray(sim.mean()) > float(problem.limit_loss()))
