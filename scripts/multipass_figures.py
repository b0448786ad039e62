"""Multi-pass SGD figures (docs/theory.md, Multi-pass SGD): theory lines (the homogenized
limit at d = 200, isotropic data, σ = 0.5, sampling with replacement), real multi-pass SGD on
16 sampled data sets as dots at a few settings (mean ± 2 SE).

- docs/multipass_early_stopping.png: test risk against epochs at α = 0.8, η = 1, B = 2, 32,
  each with full-batch GD at the same mean step per epoch (η_GD = αη/B, dashed): the SGD
  noise raises the early-stopping minimum and the late rise (the interpolation peak).
- docs/multipass_double_descent.png: test risk after E = 4 and 32 epochs against α for
  B = 8 at η = 4, with gradient flow at the same mean time (GD at η_GD <= 0.05, dashed).
- docs/multipass_budget.png (part `budget`, theory only): at a fixed sample budget
  E·n = 4d, the test risk after E epochs over n = 4d/E rows, against E, B = 1 and 8, η = 0.5.

`nice python scripts/multipass_figures.py [early_stopping] [double_descent] [budget]`
computes those parts (default the first two; each setting is a compilation) into
scripts/multipass_figures.json and draws; `--plot` redraws from that file.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import jax
import numpy as np
from matplotlib.figure import Figure

jax.config.update("jax_enable_x64", True)

from hild import simulate
from hild import theory as th
from hild.theory.atomic import atomic_write
from hild.theory.multipass import MultiPassRegression

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).with_suffix(".json")
D, SIGMA, SEEDS = 200, 0.5, 16


def problem_at(alpha: float) -> MultiPassRegression:
    return MultiPassRegression(th.spectra.isotropic(D), max(2, round(alpha * D)), noise=SIGMA)


def sgd_curve(problem, lr, batch, epochs, points, sim=False, key=0) -> dict:
    opt = th.SGD(lr, batch=batch)
    horizon = {"steps": problem.steps_for_epochs(epochs, batch), "num_points": points,
               "spacing": "log"}
    curve = th.predict(problem, opt, method="limit", **horizon)
    out = {"epochs": (np.asarray(curve.step) * batch / problem.samples).tolist(),
           "test": np.asarray(curve.risk).tolist()}
    if sim:
        s = simulate(problem, opt, **horizon, seeds=SEEDS, key=key, save_state=False)
        r = np.asarray(s.risk)
        out["sim_mean"] = r.mean(0).tolist()
        out["sim_se"] = (r.std(0, ddof=1) / math.sqrt(SEEDS)).tolist()
        out["max_abs_z"] = float(np.max(np.abs((r.mean(0) - out["test"])[1:] /
                                               (r.std(0, ddof=1)[1:] / math.sqrt(SEEDS)))))
    return out


def gd_curve(problem, lr_per_epoch, epochs, points, max_lr=None) -> dict:
    """Full-batch GD with the mean step of one SGD epoch, η_GD = lr_per_epoch (or that step
    split into GD steps of at most max_lr: gradient flow)."""
    split = 1 if max_lr is None else max(1, math.ceil(lr_per_epoch / max_lr))
    opt = th.SGD(lr_per_epoch / split)
    curve = th.predict(problem.full_batch(), opt, steps=int(epochs * split), num_points=points,
                       spacing="log", method="limit")
    return {"epochs": (np.asarray(curve.step) / split).tolist(),
            "test": np.asarray(curve.risk).tolist()}


def early_stopping(old: dict) -> dict:
    """(the SGD curves already in `old` are kept: `gd` alone redraws the GD lines)"""
    alpha, out = 0.8, {}
    problem = problem_at(alpha)
    for i, batch in enumerate((2, 32)):
        sgd = old.get(str(batch), {}).get("sgd") or sgd_curve(problem, 1.0, batch, 60, 30,
                                                              sim=batch == 2, key=i)
        out[str(batch)] = {"sgd": sgd,
                           "gd": gd_curve(problem, alpha * 1.0 / batch, 60, 40, max_lr=0.1)}
        print("early stopping", batch, out[str(batch)]["sgd"].get("max_abs_z"), flush=True)
    return out


def double_descent(old: dict) -> dict:
    alphas, batch, lr = (0.4, 0.7, 0.9, 1.0, 1.1, 1.5, 2.5), 8, 4.0
    rows = []
    for a in alphas:
        p = problem_at(a)
        row = {"alpha": p.alpha, "sgd": sgd_curve(p, lr, batch, 32, 16, sim=a == 1.0, key=7)}
        print("double descent", batch, a, row["sgd"].get("max_abs_z"), flush=True)
        rows.append(row)
    flows = [gd_curve(problem_at(a), problem_at(a).alpha * lr / batch, 32, 16, max_lr=0.05)
             for a in alphas]
    return {str(batch): rows, "flow": {str(batch): flows}}


def budget(old: dict) -> dict:
    """Theory only (no simulation), η fixed: E epochs over n = 4d/E rows."""
    out = {}
    for batch in (1, 8):
        rows = []
        for epochs in (1, 2, 4, 8):
            p = problem_at(4.0 / epochs)
            rows.append({"epochs": epochs, "sgd": sgd_curve(p, 0.5, batch, epochs, 30)})
            print("budget", batch, epochs, flush=True)
        out[str(batch)] = rows
    return out


PARTS = {"early_stopping": early_stopping, "double_descent": double_descent, "budget": budget}


def compute(parts) -> dict:
    """The named parts, merged into the numbers already in scripts/multipass_figures.json."""
    data = json.loads(DATA.read_text()) if DATA.exists() else {name: {} for name in PARTS}
    for name in parts:
        data[name] = PARTS[name](data.get(name, {}))
        atomic_write(DATA, lambda f: f.write(json.dumps(data)))
    return data


def _save(fig: Figure, name: str) -> None:
    atomic_write(ROOT / "docs" / name, lambda f: fig.savefig(f, format="png"), binary=True)


def plot(data: dict) -> None:
    fig = Figure(figsize=(6.4, 4.4), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    for i, (batch, c) in enumerate(data["early_stopping"].items()):
        color = f"C{i}"
        e, r = np.asarray(c["sgd"]["epochs"]), np.asarray(c["sgd"]["test"])
        ax.loglog(e[1:], r[1:], color=color, label=f"SGD, B = {batch}")
        if "sim_mean" in c["sgd"]:
            ax.errorbar(e[1:], c["sgd"]["sim_mean"][1:], yerr=2 * np.asarray(c["sgd"]["sim_se"][1:]),
                        fmt="o", ms=3, color=color, lw=1)
        ge, gr = np.asarray(c["gd"]["epochs"]), np.asarray(c["gd"]["test"])
        ax.loglog(ge[1:], gr[1:], color=color, ls="--", lw=1,
                  label=f"GD at the same mean step per epoch, αη/B = {0.8 / int(batch):g}")
        k = int(np.argmin(r))
        ax.plot(e[k], r[k], "*", color=color, ms=9)
    ax.set(xlabel="epochs", ylabel=r"test risk $\frac{1}{2}(\theta-\theta^*)^\top\Sigma(\theta-\theta^*)$",
           title="multi-pass SGD (with replacement), α = n/d = 0.8, σ = 0.5, η = 1")
    ax.legend(fontsize=8)
    _save(fig, "multipass_early_stopping.png")

    fig = Figure(figsize=(9.6, 4.2), dpi=150, layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, epochs_index, label in ((axes[0], 3, "after 4 epochs"), (axes[1], -1, "after 32 epochs")):
        for i, batch in enumerate(b for b in data["double_descent"] if b != "flow"):
            rows = data["double_descent"][batch]
            alphas = [row["alpha"] for row in rows]
            pick = lambda c: np.interp(4.0 if epochs_index == 3 else 32.0, c["epochs"], c["test"])
            ax.plot(alphas, [pick(row["sgd"]) for row in rows], "-", color=f"C{i}",
                    label=f"SGD, B = {batch}")
            flows = data["double_descent"]["flow"].get(batch)
            if flows:
                ax.plot(alphas, [pick(f) for f in flows], "--", color=f"C{i}", lw=1,
                        label="gradient flow, same mean time")
            for row in rows:
                c = row["sgd"]
                if "sim_mean" in c:
                    t = 4.0 if epochs_index == 3 else 32.0
                    j = int(np.argmin(np.abs(np.asarray(c["epochs"]) - t)))
                    ax.errorbar(row["alpha"], c["sim_mean"][j], yerr=2 * c["sim_se"][j], fmt="o",
                                ms=3.5, color=f"C{i}")
        ax.set(xlabel="α = n/d", title=f"test risk {label} (η = 4)", yscale="log")
    axes[0].set_ylabel("test risk")
    axes[0].legend(fontsize=8)
    _save(fig, "multipass_double_descent.png")

    if not data["budget"]:
        return
    fig = Figure(figsize=(6.4, 4.4), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    for i, (batch, rows) in enumerate(data["budget"].items()):
        epochs = [row["epochs"] for row in rows]
        ax.semilogx(epochs, [row["sgd"]["test"][-1] for row in rows], "-o", color=f"C{i}", ms=3,
                    label=f"B = {batch}, end of training")
        ax.semilogx(epochs, [min(row["sgd"]["test"]) for row in rows], ":", color=f"C{i}",
                    label=f"B = {batch}, best along the run")
        for row in rows:
            if "sim_mean" in row["sgd"]:
                ax.errorbar(row["epochs"], row["sgd"]["sim_mean"][-1],
                            yerr=2 * row["sgd"]["sim_se"][-1], fmt="s", ms=4, color=f"C{i}")
    ax.set(xlabel="epochs E over a data set of n = 4d/E rows (budget E·n = 4d samples)",
           ylabel="test risk", yscale="log", title="fixed sample budget, η = 0.5, σ = 0.5")
    ax.legend(fontsize=8)
    _save(fig, "multipass_budget.png")


def main() -> None:
    th.use_compilation_cache()
    if "--plot" not in sys.argv:
        chosen = [a for a in sys.argv[1:] if a in PARTS]
        compute(chosen or ["double_descent", "early_stopping"])
    plot(json.loads(DATA.read_text()))


if __name__ == "__main__":
    main()
