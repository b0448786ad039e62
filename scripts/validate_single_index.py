"""Single-index models and Gaussian mixtures against simulation at large d (docs/theory.md,
What the validation measured): max |z| at 10 checkpoints for many seeds at one d, and the
d-scaling of the RMS deviation of a run from its own per-seed theory.

    python scripts/validate_single_index.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np

from hild import simulate
from hild import theory as th
from hild import agreement
from hild.compare import d_scaling, per_seed_theory, seed_states
from hild.theory.gaussian_mixture import GaussianMixture
from hild.theory.single_index import SingleIndex, SingleIndexState

CASES = {
    "linear": (SingleIndex("linear", noise=0.3), th.SGD(0.5), 3.0, ["risk"]),
    "relu": (SingleIndex("relu", noise=0.1), th.SGD(0.5), 3.0, ["risk", "alignment"]),
    "erf": (SingleIndex("erf"), th.SGD(1.0), 3.0, ["risk", "alignment"]),
    "phase retrieval": (SingleIndex("quadratic", init=SingleIndexState(0.2, 0.5)), th.SGD(0.05),
                        6.0, ["risk", "alignment"]),
    "logistic sign": (SingleIndex("sign", "linear", loss="logistic"), th.SGD(0.5), 3.0,
                      ["risk", "error"]),
    "mixture rho=0.2": (GaussianMixture(0.2), th.SGD(0.5), 6.0,
                        ["risk", "error", "error_plus", "error_minus"]),
}


def one(name, d, seeds, key):
    problem, opt, t_end, observables = CASES[name]
    sim = simulate.simulate(problem, opt, t=t_end, d=d, seeds=seeds, key=key, num_points=11)
    start = problem.init is not None
    theory = th.predict(problem, opt, t=t_end, num_points=11) if start else \
        per_seed_theory(problem, opt, seed_states(sim), t=t_end, num_points=11)
    z = {obs: agreement(theory, sim, observable=obs).max_abs_z for obs in observables}
    return sim, theory, z


def rms_gap(name, d, seeds, key):
    """RMS over seeds and checkpoints of (run − its own theory) for the risk."""
    problem, opt, t_end, _ = CASES[name]
    sim = simulate.simulate(problem, opt, t=t_end, d=d, seeds=seeds, key=key, num_points=11)
    states = seed_states(sim)
    runs = []
    for i in range(seeds):
        init = jax.tree.map(lambda x, i=i: np.asarray(x[i], dtype=float), states)
        runs.append(np.asarray(th.predict(problem, opt, t=t_end, num_points=11, init=init).risk))
    diff = np.asarray(sim.risk)[:, 1:] - np.asarray(runs)[:, 1:]
    return float(np.sqrt(np.mean(diff**2)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    d, seeds = (400, 32) if args.quick else (2000, 100)
    for name in CASES:
        start = time.time()
        _, _, z = one(name, d, seeds, key=7)
        print(json.dumps({"case": name, "d": d, "seeds": seeds, "max_abs_z": z,
                          "seconds": round(time.time() - start, 1)}), flush=True)
    ds = [250, 500, 1000] if args.quick else [500, 1000, 2000]
    for name in ("relu", "mixture rho=0.2"):
        gaps = [rms_gap(name, dd, 24, key=dd) for dd in ds]
        fit = d_scaling(ds, gaps)
        print(json.dumps({"case": name, "d": ds, "rms_gap": gaps, "exponent": fit.exponent}),
              flush=True)


if __name__ == "__main__":
    main()
