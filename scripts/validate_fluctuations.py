"""The seed-to-seed spread of runs against the linear-noise expansion (theory/fluctuations.py;
docs/theory.md, Finite-d fluctuations): per family and d, the ratio of the measured to the
predicted standard deviation of the risk (and of one order parameter) across seeds, median over
checkpoints with its standard error, and the largest |ratio − 1|/SE.

    nice python scripts/validate_fluctuations.py [--seeds 512] > scripts/validate_fluctuations.out.txt
"""

from __future__ import annotations

import argparse
import json
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from hild import simulate  # noqa: E402
from hild import theory as th  # noqa: E402
from hild.theory.committee import CommitteeMachine, Overlaps  # noqa: E402
from hild.theory.gaussian_mixture import GaussianMixture  # noqa: E402
from hild.theory.fluctuations import fluctuations, spread_score  # noqa: E402
from hild.theory.single_index import SingleIndex  # noqa: E402

CASES = {
    "single_index erf, noise 0.2, random start": (
        SingleIndex("erf", noise=0.2), th.SGD(0.5), 6.0, ("m", lambda s: s.m)),
    "single_index relu, random start": (
        SingleIndex("relu"), th.SGD(0.3), 6.0, ("q", lambda s: s.q)),
    "Gaussian mixture rho=0.3, logistic, random start": (
        GaussianMixture(0.3), th.SGD(0.5), 6.0, ("b", lambda s: s.b)),
    "committee K=M=2 erf, noise 0.1, fixed start": (
        CommitteeMachine(2, 2, "erf", noise=0.1, init=Overlaps(
            jnp.array([[0.2, 0.01], [0.01, 0.15]]), jnp.array([[0.05, 0.0], [0.0, 0.02]]),
            jnp.ones(2))), th.SGD(0.8), 8.0, ("R[0,0]", lambda s: s.R[..., 0, 0])),
}


class _Values:
    """A simulated curve's order parameter as `spread_score` reads a curve."""

    def __init__(self, sim, values):
        self.t, self._values = sim.t, values

    def values(self, observable):
        return self._values


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=512)
    parser.add_argument("--dims", type=int, nargs="+", default=[100, 400])
    parser.add_argument("--only", default=None, help="run the cases whose name contains this")
    args = parser.parse_args()
    for name, (problem, opt, horizon, (coord, getter)) in CASES.items():
        if args.only and args.only not in name:
            continue
        for d in args.dims:
            start = time.time()
            sim = simulate(problem, opt, t=horizon, num_points=7, d=d, seeds=args.seeds, key=7,
                           dtype="float64")
            spread = fluctuations(problem, opt, d=d, save_at=np.asarray(sim.t))
            row = {"case": name, "d": d, "seeds": args.seeds}
            for label, curve, std in (
                    ("risk", sim, spread.risk_std),
                    (coord, _Values(sim, np.asarray(getter(sim.state))),
                     np.sqrt(spread.state_cov[:, spread.state_names.index(coord),
                                              spread.state_names.index(coord)]))):
                sp = spread._replace(risk_std=std, risk=np.ones_like(std)) if label != "risk" else spread
                score = spread_score(curve, sp, min_t=0.0)
                z = (score.ratio - 1) / score.ratio_se
                row[label] = {"ratio_median": round(float(np.median(score.ratio)), 4),
                              "ratio_se_median": round(float(np.median(score.ratio_se)), 4),
                              "ratio_range": [round(float(score.ratio.min()), 4),
                                              round(float(score.ratio.max()), 4)],
                              "max_abs_z": round(float(np.max(np.abs(z))), 2)}
            row["seconds"] = round(time.time() - start, 1)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
