"""The README's full-batch GD figures (docs/theory.md, Full-batch GD):
`python scripts/fullbatch_figures.py` writes docs/fullbatch_early_stopping.png and
docs/fullbatch_double_descent.png (theory lines, real GD on sampled data sets as dots)."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
from matplotlib.figure import Figure

jax.config.update("jax_enable_x64", True)

from hild import simulate
from hild import theory as th
from hild.theory.atomic import atomic_write
from hild.theory.fullbatch import FullBatchRegression

DOCS = Path(__file__).resolve().parent.parent / "docs"
SIGMA = 0.5


def _save(fig: Figure, name: str) -> None:
    atomic_write(DOCS / name, lambda f: fig.savefig(f, format="png"), binary=True)


def early_stopping() -> None:
    """Test and train risk against GD time at three α, isotropic data, σ = 0.5: the test
    risk has an early-stopping minimum, then rises to the interpolator's."""
    d = 400
    fig = Figure(figsize=(6.4, 4.4), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    for i, alpha in enumerate((0.5, 0.9, 2.0)):
        problem = FullBatchRegression(
            th.spectra.isotropic(d), int(alpha * d), noise=SIGMA
        )
        opt = th.SGD(0.5 * float(problem.stability_limit(th.SGD(1.0))))
        horizon = {"steps": 3000, "num_points": 60, "spacing": "log"}
        curve = th.predict(problem, opt, **horizon)
        sim = simulate.simulate(
            problem,
            opt,
            steps=3000,
            num_points=16,
            spacing="log",
            seeds=8,
            key=i,
            save_state=False,
        )
        time = np.asarray(curve.step) * float(opt.lr)
        color = f"C{i}"
        ax.loglog(
            time[1:],
            curve.values("risk")[1:],
            color=color,
            label=f"test, α = {alpha:g}",
        )
        ax.loglog(time[1:], curve.values("train")[1:], color=color, ls="--", lw=1)
        st = np.asarray(sim.step) * float(opt.lr)
        ax.loglog(st[1:], sim.values("risk").mean(0)[1:], "o", color=color, ms=3)
        train = sim.values("train").mean(0)
        ax.loglog(
            st[1:][train[1:] > 1e-4],
            train[1:][train[1:] > 1e-4],
            "s",
            color=color,
            ms=2.5,
            mfc="none",
        )
        best = int(np.argmin(curve.values("risk")))
        ax.plot(time[best], curve.values("risk")[best], "*", color="k", ms=9, zorder=5)
    ax.set_ylim(1e-3, 3)
    ax.set_xlabel(r"GD time $k\eta$")
    ax.set_ylabel(r"risk (solid: test, dashed: train)")
    ax.set_title(
        f"full-batch GD, isotropic d = {d}, σ = {SIGMA}\n"
        "theory (lines) vs mean of 8 data sets (dots); ★ early-stopping optimum",
        fontsize=8,
    )
    ax.legend(frameon=False, fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    _save(fig, "fullbatch_early_stopping.png")


def double_descent() -> None:
    """Test risk after long training and at the early-stopping optimum, against α = n/d,
    for three ridges (isotropic data, σ = 0.5, d = 100); GD on `sim_sets` data sets at the
    same step count as the theory (mean ± standard error)."""
    d, steps, sim_sets = 100, 3000, 256
    alphas = np.array([0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.5, 2.0, 3.0])
    ridges = (0.0, 0.05, 0.3)
    late = np.zeros((len(ridges), alphas.size))
    best = np.zeros_like(late)
    sim_alphas, sim_late, sim_se = (0.5, 0.9, 1.0, 1.1, 2.0), [], []
    for j, alpha in enumerate(alphas):
        for i, ridge in enumerate(ridges):
            problem = FullBatchRegression(
                th.spectra.isotropic(d), round(alpha * d), noise=SIGMA, ridge=ridge
            )
            opt = th.SGD(0.5 * float(problem.stability_limit(th.SGD(1.0))))
            curve = th.predict(problem, opt, steps=steps, num_points=60, spacing="log")
            late[i, j] = curve.values("risk")[-1]
            best[i, j] = curve.values("risk").min()
            if ridge == 0.0 and np.any(np.isclose(alpha, sim_alphas)):
                sim = simulate.simulate(
                    problem,
                    opt,
                    steps=steps,
                    num_points=2,
                    seeds=sim_sets,
                    key=j,
                    save_state=False,
                )
                final = np.asarray(sim.values("risk")[:, -1])
                sim_late.append(final.mean())
                sim_se.append(final.std(ddof=1) / np.sqrt(final.size))
                print(f"alpha {alpha:g}: GD {final.mean():.4f} ± {sim_se[-1]:.4f}, "
                      f"theory {late[i, j]:.4f}")
    fig = Figure(figsize=(6.4, 4.4), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    for i, ridge in enumerate(ridges):
        ax.semilogy(
            alphas,
            late[i],
            "-",
            color=f"C{i}",
            label=f"after {steps} steps, ridge {ridge:g}",
        )
        ax.semilogy(
            alphas, best[i], ":", color=f"C{i}", label=f"early-stopped, ridge {ridge:g}"
        )
    ax.errorbar(
        sim_alphas, sim_late, yerr=sim_se, fmt="o", color="C0", ms=4, capsize=2,
        label=f"GD on {sim_sets} data sets ± SE, {steps} steps, ridge 0",
    )
    ax.axvline(1.0, color="k", lw=0.5, alpha=0.5)
    ax.set_xlabel(r"samples per dimension $\alpha = n/d$")
    ax.set_ylabel("test risk")
    ax.set_title(
        f"double descent in α (isotropic, σ = {SIGMA}, d = {d}): ridge or early "
        "stopping removes the peak",
        fontsize=8,
    )
    ax.legend(frameon=False, fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    _save(fig, "fullbatch_double_descent.png")


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:] or ("early_stopping", "double_descent"):
        globals()[name]()
