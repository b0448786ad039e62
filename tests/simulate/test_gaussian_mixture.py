"""Gaussian mixtures: the finite-d classifier against the ODEs, per-class errors included
(docs/theory.md, Gaussian mixtures, What the tests measured). Cheap settings; the large-d
version and the d-scaling are in scripts/validate_gaussian_mixture.py."""

from hild import simulate
from hild import theory as th
from hild import agreement
from hild.theory.gaussian_mixture import GaussianMixture


def test_imbalanced_logistic_agrees_per_class():
    problem = GaussianMixture(0.2, 1.0, "logistic")
    opt = th.SGD(0.5, group_lr={"bias": 1.0})
    sim = simulate.simulate(problem, opt, t=6.0, d=400, seeds=64, key=3, num_points=11)
    curve = th.predict(problem, opt, t=6.0, num_points=11)
    for name in ("risk", "error", "error_plus", "error_minus"):
        report = agreement(curve, sim, observable=name)
        assert report.within(4.0), (name, str(report))
    assert float(sim.mean("error_plus")[-1]) > 2 * float(sim.mean("error_minus")[-1])
