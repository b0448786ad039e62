"""The coordinate-wise limit (theory/coordinatewise.py) against simulation at two d, and where
it breaks: β2 fixed against 1 − β2 = c/d (docs/theory.md, Coordinate-wise optimizers).

Least squares, power-law spectrum (α = 0.5, so that λ_max/d ∝ d^-1/2 → 0: the limit needs
no coordinate to carry O(1) of the error's variance; source β = 1.2, σ = 0.1); the single-index model
(ReLU teacher and student, σ = 0.1). 64 runs per case, max |z| at 10 checkpoints, the largest
relative gap and its exponent in d. Writes scripts/validate_coordinatewise.json.

    python scripts/validate_coordinatewise.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from hild import simulate, spectra  # noqa: E402
from hild import theory as th  # noqa: E402

T, POINTS, SEEDS, DIMS = 4.0, 11, 64, (250, 1000)


def least_squares(d):
    spec = spectra.power_law(d, alpha=0.5)
    return th.LinearRegression(spec, spectra.power_law_teacher(spec, beta=1.2), noise=0.1)


def single_index(d):
    return th.SingleIndex("relu", noise=0.1, init={"m": 0.2, "q": 0.5})


CASES = {
    "sign-SGD, least squares": (least_squares, lambda d: th.SignDescent(0.3)),
    "Adam β1=β2=0.5, least squares": (least_squares, lambda d: th.Adam(0.5, b1=0.5, b2=0.5)),
    "sign-SGD, single-index ReLU": (single_index, lambda d: th.SignDescent(0.5)),
    # where the fixed-β limit breaks: a second-moment window of d/4 steps (t = 1/4)
    "Adam β1=0, 1−β2 = 4/d, least squares": (least_squares,
                                             lambda d: th.Adam(0.5, b1=0.0, b2=1 - 4 / d)),
    "Adam β1=0, β2=0.99 fixed, least squares": (least_squares,
                                                lambda d: th.Adam(0.5, b1=0.0, b2=0.99)),
}


def run(name, make_problem, make_opt):
    rows = {}
    for d in DIMS:
        problem, opt = make_problem(d), make_opt(d)
        curve = th.predict(problem, opt, t=T, num_points=POINTS)
        sim = simulate.simulate(problem, opt, t=T, num_points=POINTS, seeds=SEEDS, key=1,
                                d=None if isinstance(problem, th.LinearRegression) else d,
                                dtype="float64")
        theory, mean, se = np.asarray(curve.risk)[1:], sim.mean()[1:], sim.stderr()[1:]
        rows[d] = {"max_abs_z": float(np.max(np.abs(mean - theory) / se)),
                   "max_rel_gap": float(np.max(np.abs(mean - theory) / mean)),
                   "theory": theory.tolist(), "sim_mean": mean.tolist(), "sim_se": se.tolist()}
        print(name, d, rows[d]["max_abs_z"], rows[d]["max_rel_gap"], flush=True)
    gaps = [rows[d]["max_rel_gap"] for d in DIMS]
    return {"dims": rows, "gap_exponent": math.log(gaps[1] / gaps[0]) / math.log(DIMS[1] / DIMS[0])}


def main():
    report = {"T": T, "seeds": SEEDS, "checkpoints": POINTS - 1, "cases": {}}
    for name, (make_problem, make_opt) in CASES.items():
        report["cases"][name] = run(name, make_problem, make_opt)
        print(name, "gap exponent", report["cases"][name]["gap_exponent"], flush=True)
    out = Path(__file__).with_suffix(".json")
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1))
    tmp.replace(out)


if __name__ == "__main__":
    main()
