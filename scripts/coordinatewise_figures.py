"""docs/adam_vs_sgd.png: Adam against SGD at their tuned rates, theory and simulation.

Least squares at d = 1000, power-law spectrum α = 1.5, source β = 1.2, σ = 0.1: each rate is
the one of a grid that minimises the theory's risk at t = 8 (SGD: its exact recursion, as
the top eigenvalue, ≈ d/2.6, makes ηλ/d O(1); Adam β1 = β2 = 0.5 and sign-SGD: the fixed-β
limit), then 32 runs of each at that rate.

    python scripts/coordinatewise_figures.py
"""

from __future__ import annotations

from pathlib import Path

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

from hild import simulate, spectra  # noqa: E402
from hild import theory as th  # noqa: E402

D, T, SEEDS = 1000, 8.0, 32
RATES = np.geomspace(0.05, 2.0, 24)


def main():
    spec = spectra.power_law(D, alpha=1.5)
    problem = th.LinearRegression(spec, spectra.power_law_teacher(spec, beta=1.2), noise=0.1)
    rules = {"SGD": lambda lr: th.SGD(lr),  # its default method: the exact recursion
             "Adam β1=β2=0.5": lambda lr: th.Adam(lr, b1=0.5, b2=0.5),
             "sign-SGD": lambda lr: th.SignDescent(lr)}
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for (name, make), color in zip(rules.items(), ("C0", "C3", "C2")):
        final = [float(th.predict(problem, make(lr), t=T, num_points=2, save_state=False).risk[-1]) for lr in RATES]
        best = float(RATES[int(np.nanargmin(final))])
        curve = th.predict(problem, make(best), t=T, num_points=81)
        sim = simulate.simulate(problem, make(best), t=T, num_points=17, seeds=SEEDS, key=0)
        ax.plot(curve.t, curve.risk, color=color, label=f"{name}, η = {best:.2g} (theory)")
        ax.errorbar(sim.t, sim.mean(), yerr=sim.stderr(), fmt="o", ms=3, color=color,
                    label=f"{name}: {SEEDS} runs")
        print(name, best, float(curve.risk[-1]), float(sim.mean()[-1]))
    ax.set_yscale("log")
    ax.set_xlabel("t = samples / d")
    ax.set_ylabel("risk")
    ax.set_title(f"least squares, power law α = 1.5, d = {D}: rates tuned on the theory",
                 fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(__file__).resolve().parents[1] / "docs" / "adam_vs_sgd.png"
    fig.savefig(out, dpi=120)
    print(out)


if __name__ == "__main__":
    main()
