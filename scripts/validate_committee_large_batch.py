"""Committee machines at batches B = κd: the ODE against the discrete overlap map
(theory/large_batch.py, `committee_map`) and simulations (docs/theory.md, Large batches).

(a) K = M = 2 erf, σ = 0.1, a shared start: |z| at 10 checkpoints of the map and of the ODE
    against the mean of 32 runs, κ = 0.1, 1, 4, at d = 200 and 800; (b) σ = 0, started near
    the teacher: the runs' final risk at 0.9 and 1.1 times the map's critical rate
    (`committee_map_critical_lr`) for κ = 1, 4; (c) the figure
    docs/committee_large_batch.png.

    nice python scripts/validate_committee_large_batch.py > scripts/validate_committee_large_batch.out.txt
"""

from __future__ import annotations

import json
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from hild import simulate  # noqa: E402
from hild import theory as th  # noqa: E402
from hild.theory.committee import CommitteeMachine, Overlaps  # noqa: E402
from hild.theory.large_batch import committee_map, committee_map_critical_lr  # noqa: E402

CASES = ((0.1, 1.0, 10.0), (1.0, 1.0, 10.0), (4.0, 0.4, 40.0))  # (κ, η' = η/B, t_end)
SEEDS = 32
INIT = Overlaps(jnp.array([[0.3, 0.05], [0.05, 0.3]]), jnp.array([[0.3, 0.1], [0.05, 0.25]]),
                jnp.ones(2))


def run(problem, kappa, etap, t_end, d):
    batch = int(round(kappa * d))
    opt = th.SGD(etap * batch, batch=batch)
    steps = int(round(t_end / kappa))
    mp = committee_map(problem, opt, d=d, steps=steps)
    sim = simulate(problem, opt, steps=steps, d=d, seeds=SEEDS, key=d, num_points=11,
                   dtype="float64")
    t = np.asarray(sim.t)
    ode = th.predict(problem, opt, t=float(t[-1]), save_at=t)
    idx = np.rint(t / kappa).astype(int)
    return mp, idx, ode, sim


def main():
    problem = CommitteeMachine(2, 2, "erf", noise=0.1, init=INIT)
    fig = Figure(figsize=(11, 3.6), dpi=130, layout="constrained")
    axes = fig.subplots(1, 3)
    for i, (kappa, etap, t_end) in enumerate(CASES):
        for d in (200, 800):
            start = time.time()
            mp, idx, ode, sim = run(problem, kappa, etap, t_end, d)
            risk = np.asarray(sim.risk)
            mean, se = risk.mean(0), risk.std(0, ddof=1) / np.sqrt(SEEDS)
            z_map = ((mean - mp.risk[idx]) / se)[1:]
            z_ode = ((mean - np.asarray(ode.risk)) / se)[1:]
            print(json.dumps({"case": "committee K=M=2 erf, noise 0.1", "kappa": kappa,
                              "eta_over_B": etap, "d": d, "seeds": SEEDS,
                              "checkpoints": len(z_map), "steps": len(mp.t) - 1,
                              "max_abs_z_map": round(float(np.abs(z_map).max()), 2),
                              "median_z_map": round(float(np.median(z_map)), 2),
                              "max_abs_z_ode": round(float(np.abs(z_ode).max()), 2),
                              "max_gap_map": float(np.max(np.abs(mean - mp.risk[idx]))),
                              "max_gap_ode": float(np.max(np.abs(mean - np.asarray(ode.risk)))),
                              "seconds": round(time.time() - start, 1)}), flush=True)
            if d == 800:
                ax = axes[i]
                t = np.asarray(sim.t)
                ax.errorbar(t, mean, yerr=se, fmt="o", ms=3, color="C0",
                            label=f"simulation, d={d}, {SEEDS} seeds (mean ± SE)")
                ax.plot(mp.t, mp.risk, "-", marker="s" if len(mp.t) < 30 else None, ms=3,
                        color="C3", label="discrete overlap map")
                tt = np.linspace(0, mp.t[-1], 200)
                batch = int(round(kappa * d))
                dense = th.predict(problem, th.SGD(etap * batch, batch=batch), t=float(tt[-1]),
                                   save_at=tt)
                ax.plot(tt, np.asarray(dense.risk), "k--", lw=1.2, label="high-d ODE")
                ax.set_title(f"κ = B/d = {kappa:g}, η/B = {etap:g}", fontsize=9)
                ax.set_xlabel(r"$t$ = samples / $d$")
                ax.set_yscale("log")
                ax.grid(alpha=0.3)
    axes[0].set_ylabel("risk")
    axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle("committee K = M = 2 erf, σ = 0.1: ODE vs discrete map vs runs at large batch",
                 fontsize=10)
    fig.savefig("docs/committee_large_batch.png")

    clean = CommitteeMachine(2, 2, "erf")
    near = Overlaps(jnp.array([[0.9, 0.0], [0.0, 0.9]]), jnp.array([[0.9, 0.0], [0.0, 0.9]]),
                    jnp.ones(2))
    near_teacher = CommitteeMachine(2, 2, "erf", init=near)
    d = 200
    ode_crit = committee_map_critical_lr(clean, 1, float("inf"))
    for kappa in (1.0, 4.0):
        batch = int(kappa * d)
        crit = committee_map_critical_lr(clean, batch, d)
        for factor in (0.9, 1.1):
            opt = th.SGD(factor * crit, batch=batch)
            steps = 300
            sim = simulate(near_teacher, opt, steps=steps, d=d, seeds=16, key=1, num_points=4,
                           dtype="float64")
            mp = committee_map(near_teacher, opt, d=d, steps=steps)
            final = np.asarray(sim.risk)[:, -1]
            print(json.dumps({"case": "committee erf, sigma 0, critical rate", "kappa": kappa,
                              "d": d, "lr_over_B": factor * crit / batch,
                              "lr_over_map_critical": factor,
                              "map_critical_lr_over_B": crit / batch,
                              "ode_critical_lr_over_B": ode_crit,
                              "sim_final_risk_median": float(np.median(final)),
                              "sim_final_risk_max": float(np.max(final)),
                              "sim_final_risk_min": float(np.min(final)), "seeds": 16,
                              "map_final_risk": float(mp.risk[-1])}), flush=True)
    for kappa in (0.01, 0.1, 0.3, 1.0, 2.0, 4.0, 10.0):
        batch = int(kappa * 1000)
        print(json.dumps({"case": "critical rate vs batch", "kappa": kappa,
                          "map_critical_lr_over_B":
                              committee_map_critical_lr(clean, batch, 1000) / batch,
                          "ode_critical_lr_over_B": ode_crit}), flush=True)


if __name__ == "__main__":
    main()
