"""Figures of docs/theory.md, Escape from unstable fixed points: escape-time histograms (runs
vs `theory.escape_times`) from scripts/validate_escape_distribution.py's saved times, and the
theory band of the alignment around the escape with full simulations at d = 500.

    nice python scripts/validate_escape_distribution.py --save /tmp/escape.npz
    nice python scripts/escape_figures.py /tmp/escape.npz
"""

from __future__ import annotations

import sys

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy.special import ndtri  # noqa: E402

from hild import simulate  # noqa: E402
from hild import theory as th  # noqa: E402
from hild.theory.escape import escape_times  # noqa: E402
from hild.theory.single_index import SingleIndex, SingleIndexState  # noqa: E402

ETA = 0.05
PROBLEM, OPT = SingleIndex("quadratic", spherical=True), th.SGD(ETA)
EQUATOR = SingleIndexState(jnp.asarray(0.0), jnp.asarray(1.0))


def histograms(saved):
    dims = sorted(int(k.split("_")[1]) for k in saved if k.startswith("chain_"))
    fig = Figure(figsize=(3.0 * len(dims), 3.2), dpi=130, layout="constrained")
    axes = fig.subplots(1, len(dims), sharey=True)
    for ax, d in zip(np.atleast_1d(axes), dims):
        law = escape_times(PROBLEM, OPT, d=d, fixed_point=EQUATOR)
        tau = saved[f"chain_{d}"]
        tau = tau[np.isfinite(tau)]
        bins = np.linspace(np.quantile(tau, 0.002) - 2, np.quantile(tau, 0.995) + 2, 30)
        ax.hist(tau, bins=bins, density=True, color="C0", alpha=0.5,
                label=f"runs ({tau.size}, exact overlap chain)")
        if f"full_{d}" in saved:
            full = saved[f"full_{d}"]
            ax.hist(full[np.isfinite(full)], bins=bins, density=True, histtype="step",
                    color="C2", lw=1.4, label=f"runs ({np.isfinite(full).sum()}, full simulation)")
        grid = np.linspace(bins[0], bins[-1], 400)
        pdf = np.gradient(law.cdf(grid), grid)
        ax.plot(grid, pdf, "k-", lw=1.5, label="theory (linear noise + ODE)")
        for q in law.quantile([0.25, 0.5, 0.75]):
            ax.axvline(q, color="k", ls=":", lw=0.8)
        ax.set_title(f"d = {d}", fontsize=9)
        ax.set_xlabel(r"escape time $\tau$ ($|m| \geq 1/2$)")
    np.atleast_1d(axes)[0].set_ylabel("density")
    np.atleast_1d(axes)[0].legend(fontsize=6.5, frameon=False, loc="upper right")
    fig.suptitle("spherical phase retrieval, η = 0.05: escape from the equator", fontsize=10)
    fig.savefig("docs/escape_times.png")


def band(d=500, seeds=24):
    law = escape_times(PROBLEM, OPT, d=d, fixed_point=EQUATOR)
    t_end = float(law.quantile(0.95)) + 8
    sim = simulate(PROBLEM, OPT, t=t_end, d=d, seeds=seeds, key=3, num_points=241,
                   dtype="float64")
    t = np.asarray(sim.t)
    edge = th.predict(PROBLEM, OPT, t=law.t_eps + 20, num_points=4001,
                      init={"m": law.eps, "q": 1.0})
    te, ae = np.asarray(edge.t), np.asarray(edge.values("alignment"))

    def curve(p):  # the alignment of the run whose |Z| is the p-quantile
        shift = np.log(law.eps * np.sqrt(d) / (law.scale * ndtri((1 + p) / 2))) / law.rate
        return np.interp(t - shift, te, ae, left=np.nan, right=ae[-1])

    fig = Figure(figsize=(6.4, 4.2), dpi=140, layout="constrained")
    ax = fig.add_subplot()
    for row in np.asarray(sim.values("alignment")):
        ax.plot(t, row, color="C0", lw=0.6, alpha=0.35)
    ax.plot([], [], color="C0", lw=0.6, label=f"runs, d = {d} ({seeds} seeds)")
    ax.fill_between(t, curve(0.05), curve(0.95), color="0.6", alpha=0.35, lw=0,
                    label="theory: 5–95% of runs")
    ax.fill_between(t, curve(0.25), curve(0.75), color="0.3", alpha=0.45, lw=0,
                    label="theory: 25–75% of runs")
    ax.plot(t, curve(0.5), "k-", lw=1.4, label="theory: median run")
    mean = th.predict(PROBLEM, OPT, t=t_end, save_at=t, init={"m": 1 / np.sqrt(d), "q": 1.0})
    ax.plot(t, np.asarray(mean.values("alignment")), "r--", lw=1.2,
            label=r"ODE from $m_0 = d^{-1/2}$ (one curve)")
    ax.set_xlabel(r"$t$ = samples / $d$")
    ax.set_ylabel(r"alignment $|m|$")
    ax.set_xlim(0, t_end)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, frameon=False, loc="upper left")
    ax.set_title("spherical phase retrieval, η = 0.05: the escape's band from theory", fontsize=9)
    fig.savefig("docs/escape_band.png")


if __name__ == "__main__":
    band()
    if len(sys.argv) > 1:
        histograms(dict(np.load(sys.argv[1])))
