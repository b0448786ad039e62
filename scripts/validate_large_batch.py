"""Batches B = κd: the ODE against the discrete overlap map (theory/large_batch.py) and
simulations (docs/theory.md, Large batches), and the critical rate of the map.

(a) relu teacher and student, σ = 0.1: max |z| over steps of the map and of the ODE against
    the mean of the runs, κ = 0.1, 1, 4, at two d; (b) linear: the fraction of diverged runs
    at rates around the map's critical η = 2B/(1 + B/d) (the ODE's: 2B); (c) the figure
    docs/large_batch.png.

    nice python scripts/validate_large_batch.py > scripts/validate_large_batch.out.txt
"""

from __future__ import annotations

import json
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from hild import simulate  # noqa: E402
from hild import theory as th  # noqa: E402
from hild.theory.large_batch import map_critical_lr, overlap_map  # noqa: E402
from hild.theory.single_index import SingleIndex  # noqa: E402

CASES = ((0.1, 1.0), (1.0, 1.0), (4.0, 0.3))  # (κ, η' = η/B)
T_END = 4.0
SEEDS = 32


def run(problem, kappa, etap, d):
    batch = int(round(kappa * d))
    opt = th.SGD(etap * batch, batch=batch)
    steps = int(round(T_END / kappa))
    mp = overlap_map(problem, opt, d=d, steps=steps)
    ode = th.predict(problem, opt, t=float(mp.t[-1]), save_at=mp.t)
    sim = simulate(problem, opt, steps=steps, d=d, seeds=SEEDS, key=d, num_points=steps + 1,
                   dtype="float64")
    return mp, ode, sim


def main():
    problem = SingleIndex("relu", noise=0.1)
    fig = Figure(figsize=(11, 3.6), dpi=130, layout="constrained")
    axes = fig.subplots(1, 3)
    for i, (kappa, etap) in enumerate(CASES):
        for d in (200, 800):
            start = time.time()
            mp, ode, sim = run(problem, kappa, etap, d)
            risk = np.asarray(sim.risk)
            mean, se = risk.mean(0), risk.std(0, ddof=1) / np.sqrt(SEEDS)
            z_map = np.abs(mean - mp.risk)[1:] / se[1:]
            z_ode = np.abs(mean - np.asarray(ode.risk))[1:] / se[1:]
            print(json.dumps({"case": "relu, noise 0.1", "kappa": kappa, "eta_over_B": etap,
                              "d": d, "seeds": SEEDS, "steps": len(mp.t) - 1,
                              "max_z_map": round(float(z_map.max()), 2),
                              "max_z_ode": round(float(z_ode.max()), 2),
                              "max_gap_map": float(np.max(np.abs(mean - mp.risk))),
                              "max_gap_ode": float(np.max(np.abs(mean - np.asarray(ode.risk)))),
                              "seconds": round(time.time() - start, 1)}), flush=True)
            if d == 800:
                ax = axes[i]
                t = np.asarray(sim.t)
                ax.errorbar(t, mean, yerr=se, fmt="o", ms=3, color="C0",
                            label=f"simulation, d={d}, {SEEDS} seeds (mean ± SE)")
                ax.plot(mp.t, mp.risk, "-s", ms=3, color="C3", label="discrete overlap map")
                tt = np.linspace(0, mp.t[-1], 200)
                dense = th.predict(problem, th.SGD(etap * int(kappa * d), batch=int(kappa * d)),
                                   t=float(mp.t[-1]), save_at=tt)
                ax.plot(tt, np.asarray(dense.risk), "k--", lw=1.2, label="high-d ODE")
                ax.set_title(f"κ = B/d = {kappa:g}, η/B = {etap:g}", fontsize=9)
                ax.set_xlabel(r"$t$ = samples / $d$")
                ax.set_yscale("log")
                ax.grid(alpha=0.3)
    axes[0].set_ylabel("risk")
    axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle("relu single-index, σ = 0.1: ODE vs discrete map vs runs at large batch",
                 fontsize=10)
    fig.savefig("docs/large_batch.png")
    linear = SingleIndex("linear")
    d = 200
    for kappa in (1.0, 4.0):
        batch = int(kappa * d)
        crit = map_critical_lr(batch, d)
        for factor in (0.9, 1.1):
            lr = factor * crit
            opt = th.SGD(lr, batch=batch)
            steps = 200
            sim = simulate(linear, opt, steps=steps, d=d, seeds=16, key=1, num_points=11)
            mp = overlap_map(linear, opt, d=d, steps=steps)
            print(json.dumps({"case": "linear, critical rate", "kappa": kappa, "d": d,
                              "lr": lr, "lr_over_map_critical": factor,
                              "map_critical_lr": crit, "ode_critical_lr": 2.0 * batch,
                              "sim_diverged": int(np.sum(np.asarray(sim.diverged))),
                              "seeds": 16, "map_final_risk": float(mp.risk[-1]),
                              "ode_final_risk": float(th.predict(linear, opt, t=steps * kappa,
                                                                 num_points=3).risk[-1])}),
                  flush=True)


if __name__ == "__main__":
    main()
