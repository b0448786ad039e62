"""Figures of docs/theory.md, Least squares: more optimizers: `python docs/gallery_optimizers.py`.

Acceleration (stability regions; tuned heavy ball / Nesterov against tuned SGD per batch) and
heavy ball against SGD with the rescaled rate η/(1-β). Theory from one vmapped `predict` per
batch size; a few settings confirmed by simulation. A few minutes on 2 CPU cores.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np
from matplotlib.figure import Figure

from hild import simulate
from hild import theory as th
from hild.compare import tune
from hild.theory.atomic import atomic_write

jax.config.update("jax_enable_x64", True)
HERE = Path(__file__).parent
BATCHES = (1, 4, 16, 64, 256)


def _save(fig: Figure, name: str) -> None:
    atomic_write(HERE / name, lambda f: fig.savefig(f, format="png"), binary=True)


def ill_conditioned(d=200):
    spec = th.spectra.power_law(d, 1.5)
    return th.LinearRegression(spec, th.spectra.power_law_teacher(spec, 1.0), noise=0.0)


def best_over_grid(problem, optimizer, budget, space):
    values = tune.evaluate(problem, optimizer, tune.grid(**space), budget, objective="final")
    return float(np.min(np.where(np.isfinite(values), values, np.inf)))


def acceleration() -> None:
    problem = ill_conditioned()
    budget = 20.0
    betas = np.linspace(0.0, 0.98, 25)
    fig = Figure(figsize=(11, 4.2), dpi=150, layout="constrained")
    ax, bx = fig.subplots(1, 2)
    for i, batch in enumerate((1, 64)):
        for cls, style in ((th.SGD, "-"), (th.Nesterov, "--")):
            limits = [th.critical_rate(problem, _make(cls, 1.0, batch, b)) for b in betas]
            ax.plot(betas, np.asarray(limits) / (1 - betas), style, color=f"C{i}",
                    label=f"{cls.__name__ if cls is th.Nesterov else 'heavy ball'}, B = {batch}")
    ax.set_yscale("log")
    ax.set_xlabel("momentum β")
    ax.set_ylabel("largest stable effective rate η_c/(1-β)")
    ax.set_title("stability: below each line the second moments converge", fontsize=9)
    ax.legend(fontsize=8)

    lrs = np.geomspace(0.01, 40.0, 36)  # SGD gets a 400-point grid: no edge from resolution
    momenta = np.array([0.0, 0.5, 0.8, 0.9, 0.95, 0.98])
    rows = {"SGD": [], "heavy ball": [], "Nesterov": []}
    for batch in BATCHES:
        rows["SGD"].append(best_over_grid(problem, th.SGD(1.0, batch=batch), budget,
                                          {"lr": np.geomspace(0.01, 40.0, 400)}))
        rows["heavy ball"].append(best_over_grid(problem, th.SGD(1.0, batch=batch), budget,
                                                 {"lr": lrs, "momentum": momenta}))
        rows["Nesterov"].append(best_over_grid(problem, th.Nesterov(1.0, batch=batch), budget,
                                               {"lr": lrs, "momentum": momenta}))
    sgd = np.asarray(rows["SGD"])
    for name, marker in (("heavy ball", "o"), ("Nesterov", "s")):
        bx.plot(BATCHES, np.asarray(rows[name]) / sgd, marker=marker, label=name)
        print(name, "best risk / SGD's per B:", dict(zip(BATCHES, np.round(np.asarray(rows[name]) / sgd, 4))))
    print("SGD best risk per B:", dict(zip(BATCHES, np.round(sgd, 5))))
    bx.axhline(1.0, color="k", lw=0.8)
    bx.set_xscale("log", base=2)
    bx.set_yscale("log")
    bx.set_xlabel("batch size B (same sample budget t = 20 for all)")
    bx.set_ylabel("best risk / best SGD risk (η, β tuned per B)")
    bx.set_title("tuned momentum against tuned SGD at equal samples (below 1: it helps)",
                 fontsize=9)
    bx.legend(fontsize=8)
    fig.suptitle(f"{problem.describe()}, exact recursion", fontsize=9)
    _save(fig, "acceleration.png")


def _make(cls, lr, batch, beta):
    return cls(lr, batch=batch, momentum=float(beta))


def momentum_vs_rescaled() -> None:
    """Heavy ball (η, β) against SGD at η/(1-β): theory ratio of final risks over the
    effective rate, and two settings confirmed by simulation."""
    problem = ill_conditioned()
    budget = 10.0
    fig = Figure(figsize=(11, 4.2), dpi=150, layout="constrained")
    ax, bx = fig.subplots(1, 2)
    for j, batch in enumerate((1, 64)):
        eta_c = float(th.critical_lr(problem, batch))
        fracs = np.geomspace(0.02, 0.99, 30)
        for k, beta in enumerate((0.5, 0.9)):
            heavy = tune.evaluate(problem, th.SGD(1.0, batch=batch, momentum=beta), {"lr": fracs * eta_c * (1 - beta)}, budget)
            plain = tune.evaluate(problem, th.SGD(1.0, batch=batch), {"lr": fracs * eta_c}, budget)
            ax.plot(fracs, heavy / plain, ["-", "--"][k], color=f"C{j}", label=f"β = {beta}, B = {batch}")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("effective rate η/(1-β) over SGD's critical η_c(B)")
    ax.set_ylabel("risk(heavy ball η, β) / risk(SGD η/(1-β)) at t = 10")
    ax.set_title("equal for small rates; momentum differs near η_c", fontsize=9)
    ax.legend(fontsize=8)

    cases = [(1, 0.9, 0.2), (64, 0.9, 0.9)]
    for i, (batch, beta, frac) in enumerate(cases):
        eta_eff = frac * float(th.critical_lr(problem, batch))
        for opt, style, name in ((th.SGD(eta_eff * (1 - beta), batch=batch, momentum=beta), "-", "heavy ball"),
                                 (th.SGD(eta_eff, batch=batch), ":", "SGD η/(1-β)")):
            curve = th.predict(problem, opt, t=budget, num_points=30)
            sim = simulate.simulate(problem, opt, t=budget, num_points=30, seeds=100,
                                    key=i, save_state=False)
            color = f"C{2 * i + (name != 'heavy ball')}"
            bx.plot(curve.t, curve.risk, style, color=color,
                    label=f"{name}: B={batch}, η_eff={frac:g} η_c")
            bx.errorbar(sim.t, sim.mean(), sim.stderr(), fmt="o", ms=2.5, color=color)
    bx.set_yscale("log")
    bx.set_xlabel("t = samples/d")
    bx.set_ylabel("risk")
    bx.set_title("lines: exact recursion; dots: mean ± SE of 100 runs (d = 200)", fontsize=9)
    bx.legend(fontsize=7)
    fig.suptitle(f"{problem.describe()}: heavy ball vs rescaled SGD", fontsize=9)
    _save(fig, "momentum_vs_rescaled.png")


def critical_batch() -> None:
    """Steps against samples to reach a target risk, the rate tuned per batch (theory)."""
    spec = th.spectra.power_law(200, 1.5)
    problem = th.LinearRegression(spec, th.spectra.power_law_teacher(spec, 1.2), noise=0.1)
    batches = 2 ** np.arange(0, 11)
    fig = Figure(figsize=(6.4, 4.6), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    for i, target in enumerate((0.05, 0.02)):
        res = tune.critical_batch(problem, th.SGD(1.0), batches, np.geomspace(0.05, 400, 60),
                                  target, budget=40.0 + 2.0 * batches)
        print(f"target {target}: knee B = {res.knee:.1f}; samples/d {np.round(res.samples, 2)}; "
              f"steps {res.steps}; best lr {np.round(res.lrs, 3)}")
        e = res.samples * problem.d
        ax.plot(e, res.steps, "o-", color=f"C{i}", label=f"risk {target}: knee B ≈ {res.knee:.0f}")
        for b, x, y in zip(res.batches, e, res.steps):
            if b in (1, 16, 256, 1024):
                ax.annotate(f"B={b}", (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
        e_min, s_min = np.min(e), np.min(res.steps)
        grid = np.geomspace(e_min * 1.001, np.max(e) * 1.5, 200)
        ax.plot(grid, s_min * (1 + 1 / (grid / e_min - 1)), ":", color=f"C{i}", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("samples to reach the target risk")
    ax.set_ylabel("steps to reach it")
    ax.set_title(f"{problem.describe()}\nSGD, lr tuned per batch from theory; dotted: "
                 "(S/S_min - 1)(E/E_min - 1) = 1", fontsize=8)
    ax.legend(fontsize=8)
    _save(fig, "critical_batch.png")


if __name__ == "__main__":
    chosen = sys.argv[1:] or ["acceleration", "momentum_vs_rescaled", "critical_batch"]
    for name in chosen:
        globals()[name]()
