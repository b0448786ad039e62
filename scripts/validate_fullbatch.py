"""Full-batch GD: the high-d limit against real GD on sampled training sets at d = 100 ... 1600.

For two settings (isotropic data below the interpolation threshold, α = n/d = 0.5, σ = 0.5;
power-law spectrum λ_i ∝ i^-1 with a power-law teacher, α = 2, σ = 0.3, ridge 0.01), each at
η = half the stability limit for 200 GD steps, 12 log-spaced records: the max |z| of the mean
over data sets against the theory (test and train risk, every recorded point; the train risk
of an interpolating run is left out once it is below 1e-5, where both are 0 up to round-off),
the max relative gap, and its d-scaling (a power-law fit). Writes scripts/validate_fullbatch.json.

Run once: `python scripts/validate_fullbatch.py` (about 10 CPU-minutes).
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from hild import simulate
from hild import theory as th
from hild import agreement
from hild.compare.scaling import d_scaling
from hild.theory.fullbatch import FullBatchRegression

DIMENSIONS = (100, 200, 400, 800, 1600)
STEPS, POINTS = 200, 12


def isotropic_interpolating(d):
    return FullBatchRegression(th.spectra.isotropic(d), d // 2, noise=0.5)


def power_law_ridge(d):
    spec = th.spectra.power_law(d, 1.0)
    return FullBatchRegression(
        spec, 2 * d, th.spectra.power_law_teacher(spec, 1.0), noise=0.3, ridge=0.01
    )


def seeds_for(d: int) -> tuple[int, int]:
    """(batches, seeds per batch): memory n·d·seeds stays below ~0.2 GB in float32."""
    return (4, 8) if d >= 800 else (1, 32)


def one(setting, d: int) -> dict:
    problem = setting(d)
    # half of 2/(s + ρ) at the bound s = λ_max(1 + √(d/n))² (the rate of docs/theory.md's numbers)
    bound = float(np.max(problem.spectrum)) * (1 + np.sqrt(problem.d / problem.samples)) ** 2
    opt = th.SGD(1.0 / (bound + float(problem.ridge)))
    horizon = {"steps": STEPS, "num_points": POINTS, "spacing": "log"}
    theory_curve = th.predict(problem, opt, **horizon)
    batches, per = seeds_for(d)
    sims = [
        simulate.simulate(
            problem, opt, **horizon, seeds=per, key=100 + b, save_state=False
        )
        for b in range(batches)
    ]
    sim = (
        sims[0]
        if batches == 1
        else sims[0].__class__(
            **{
                **{
                    f: getattr(sims[0], f)
                    for f in ("step", "t", "state", "problem", "optimizer", "metadata")
                },
                "risk": np.concatenate([s.risk for s in sims]),
                "diverged": np.concatenate([s.diverged for s in sims]),
                "diverged_step": np.concatenate([s.diverged_step for s in sims]),
                "diverged_t": np.concatenate([s.diverged_t for s in sims]),
                "observables": {
                    "train": np.concatenate([s.observables["train"] for s in sims])
                },
            }
        )
    )
    out = {"d": d, "n": problem.samples, "seeds": batches * per, "lr": float(opt.lr)}
    for name in ("risk", "train"):
        predicted = np.asarray(theory_curve.values(name))
        report = agreement(theory_curve, sim, observable=name)
        keep = np.isin(report.t_z, np.asarray(theory_curve.t)[predicted > 1e-5])
        mean = sim.values(name).mean(0)
        fit = predicted > 1e-5
        out[name] = {
            "max_abs_z": float(np.max(np.abs(report.z[keep]))),
            "max_rel_gap": float(
                np.max(np.abs(mean[fit] - predicted[fit]) / predicted[fit])
            ),
            "max_abs_gap": float(np.max(np.abs(mean[fit] - predicted[fit]))),
        }
    print(setting.__name__, out, flush=True)
    return out


def main() -> None:
    results = {}
    for setting in (isotropic_interpolating, power_law_ridge):
        rows = [one(setting, d) for d in DIMENSIONS]
        fits = {
            name: d_scaling(
                [r["d"] for r in rows], [r[name]["max_abs_gap"] for r in rows]
            ).exponent
            for name in ("risk", "train")
        }
        results[setting.__name__] = {"rows": rows, "gap_exponent": fits}
        print(setting.__name__, "gap ∝ d^", fits, flush=True)
    path = Path(__file__).with_suffix(".json")
    path.write_text(json.dumps(results, indent=2))
    print("wrote", path)


if __name__ == "__main__":
    main()
