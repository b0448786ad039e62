"""Multi-pass SGD with replacement: the high-d limit (homogenized SGD) against real SGD on
sampled training sets at d = 100 ... 800.

Two settings: isotropic data below the interpolation threshold (α = n/d = 0.5, σ = 0.5,
B = 4, η = 2); a power-law spectrum λ_i ∝ i^-1 with a power-law teacher (α = 2, σ = 0.3,
ridge 0.01, B = 8, η = 1, momentum 0.5). 20 epochs, 10 log-spaced records; 32 data sets,
one SGD run each. Reported per d: the max |z| of the mean over seeds against the limit
(test and train risk, every record), the max relative gap, and the gap's d-scaling
(a power-law fit). Then, at d = 200 and 800, the same limit (a theory of sampling with
replacement) against reshuffled and cyclic SGD on the first setting: how far (a)'s theory is
from sampling without replacement. Writes scripts/validate_multipass.json.

Run once: `nice python scripts/validate_multipass.py` (about 5 CPU-minutes).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from hild import agreement, simulate
from hild import theory as th
from hild.compare.scaling import d_scaling
from hild.theory.multipass import MultiPassRegression

DIMENSIONS = (100, 200, 400, 800)
EPOCHS, POINTS, SEEDS = 20, 10, 32


def isotropic_interpolating(d):
    return MultiPassRegression(th.spectra.isotropic(d), d // 2, noise=0.5), th.SGD(2.0, batch=4)


def power_law_ridge(d):
    spec = th.spectra.power_law(d, 1.0)
    problem = MultiPassRegression(spec, 2 * d, th.spectra.power_law_teacher(spec, 1.0),
                                  noise=0.3, ridge=0.01)
    return problem, th.SGD(1.0, batch=8, momentum=0.5)


def one(setting, d: int) -> dict:
    problem, opt = setting(d)
    horizon = {"steps": problem.steps_for_epochs(EPOCHS, opt.batch), "num_points": POINTS,
               "spacing": "log"}
    start = time.perf_counter()
    limit = th.predict(problem, opt, method="limit", **horizon)
    theory_s = time.perf_counter() - start
    start = time.perf_counter()
    sim = simulate(problem, opt, **horizon, seeds=SEEDS, key=100 + d, save_state=False)
    sim_s = time.perf_counter() - start
    out = {"d": d, "n": problem.samples, "seeds": SEEDS, "theory_s": theory_s, "sim_s": sim_s}
    for name in ("risk", "train"):
        predicted = np.asarray(limit.values(name))
        report = agreement(limit, sim, observable=name)
        mean = sim.values(name).mean(0)
        out[name] = {"max_abs_z": float(np.max(np.abs(report.z))),
                     "max_rel_gap": float(np.max(np.abs(mean - predicted) / predicted)),
                     "max_abs_gap": float(np.max(np.abs(mean - predicted)))}
    print(setting.__name__, out, flush=True)
    return out


def without_replacement(d: int) -> dict:
    """The with-replacement limit against SGD that reshuffles each epoch or cycles."""
    problem, opt = isotropic_interpolating(d)
    horizon = {"steps": problem.steps_for_epochs(EPOCHS, opt.batch), "num_points": POINTS,
               "spacing": "log"}
    limit = th.predict(problem, opt, method="limit", **horizon)
    out = {"d": d, "t": np.asarray(limit.t).tolist()}
    for sampling in ("reshuffle", "cyclic"):
        other = MultiPassRegression(problem.spectrum, problem.samples, noise=problem.noise,
                                    sampling=sampling)
        sim = simulate(other, opt, **horizon, seeds=SEEDS, key=100 + d, save_state=False)
        for name in ("risk", "train"):
            report = agreement(limit, sim, observable=name)
            predicted = np.asarray(limit.values(name))
            mean = sim.values(name).mean(0)
            out[f"{sampling}_{name}"] = {
                "max_abs_z": float(np.max(np.abs(report.z))),
                "rel_gap": ((mean - predicted) / predicted).tolist(),
                "simulated": mean.tolist(), "predicted": predicted.tolist()}
    print("without replacement", out, flush=True)
    return out


def limit_bias() -> None:
    rows = []
    for d in (25, 50, 100):
        problem, opt = isotropic_interpolating(d)
        horizon = {"steps": problem.steps_for_epochs(EPOCHS, opt.batch), "num_points": POINTS,
                   "spacing": "log"}
        limit = th.predict(problem, opt, method="limit", **horizon)
        exact = th.predict(problem, opt, method="exact", datasets=256, seed=d, **horizon)
        row = {"d": d}
        for name in ("risk", "train"):
            a, b = np.asarray(limit.values(name)), np.asarray(exact.values(name))
            row[name] = {"max_rel_gap": float(np.max(np.abs(a - b) / b)),
                         "final_rel_gap": float((a[-1] - b[-1]) / b[-1])}
        print("bias", row, flush=True)
        rows.append(row)
    Path(__file__).with_name("validate_multipass_bias.json").write_text(json.dumps(rows, indent=2))


def homogenization(d: int, count: int = 16) -> dict:
    import jax.numpy as jnp

    from hild.theory.multipass import _datasets

    problem, opt = isotropic_interpolating(d)
    sets = _datasets(problem, -problem.teacher, count, 0, jnp.float32)
    batch, gamma = opt.batch, float(opt.lr) / d
    steps = problem.steps_for_epochs(EPOCHS, batch)
    records = jnp.array([steps // 20, steps // 4, steps // 2, steps - 1])

    def one(ds, homogenized):
        def step(carry, _):
            m, a = carry
            p = 1.0 - gamma * ds.s
            w = jnp.sum((ds.z @ a) * ds.z, 1) - 2 * ds.residual * (ds.z @ m) + ds.residual**2
            noise = (jnp.mean(w) * jnp.diag(ds.s) if homogenized else
                     (ds.z.T * w[None, :]) @ ds.z / problem.samples - ds.s[:, None] * a * ds.s[None, :])
            a = p[:, None] * a * p[None, :] + gamma**2 / batch * noise
            test = 0.5 * (jnp.sum(ds.sigma * a) + 2 * (ds.sigma @ ds.offset) @ m
                          + ds.offset @ ds.sigma @ ds.offset)
            return (p * m, 0.5 * (a + a.T)), test

        return jax.lax.scan(step, (ds.e0, jnp.outer(ds.e0, ds.e0)), None, length=steps)[1][records]

    exact = jax.vmap(lambda ds: one(ds, False))(sets)
    rel = np.asarray((jax.vmap(lambda ds: one(ds, True))(sets) - exact) / exact)
    row = {"d": d, "epochs": [1, 5, 10, 20], "rel_gap": rel.mean(0).tolist(),
           "se": (rel.std(0, ddof=1) / np.sqrt(count)).tolist()}
    print("homogenization", row, flush=True)
    return row


def main() -> None:
    if "--homogenization" in sys.argv:
        rows = [homogenization(d) for d in (25, 50, 100, 200)]
        Path(__file__).with_name("validate_multipass_homogenization.json").write_text(
            json.dumps(rows, indent=2))
        return None
    if "--bias" in sys.argv:
        return limit_bias()
    results = {}
    for setting in (isotropic_interpolating, power_law_ridge):
        rows = [one(setting, d) for d in DIMENSIONS]
        fits = {name: d_scaling([r["d"] for r in rows],
                                [r[name]["max_abs_gap"] for r in rows]).exponent
                for name in ("risk", "train")}
        results[setting.__name__] = {"rows": rows, "gap_exponent": fits}
        print(setting.__name__, "gap ∝ d^", fits, flush=True)
    results["without_replacement"] = [without_replacement(d) for d in (200, 800)]
    path = Path(__file__).with_suffix(".json")
    path.write_text(json.dumps(results, indent=2))
    print("wrote", path)


if __name__ == "__main__":
    main()
