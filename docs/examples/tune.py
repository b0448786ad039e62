"""Tune from theory: a learning rate × batch grid at a fixed sample budget in one vmapped
`predict` call, the choice and its best alternatives simulated (hild.compare.tune;
docs/theory.md, Critical batch size)."""

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np

import hild
from hild import compare, spectra
from hild.compare import tune, tune_figures

spec = spectra.power_law(200, alpha=1.5)
problem = hild.LinearRegression(spec, spectra.power_law_teacher(spec, beta=1.2), noise=0.1)
batches = [1, 4, 16]
grid = tune.tune(problem, hild.SGD(0.5), {"lr": np.geomspace(0.05, 8, 24), "batch": batches},
                 budget=10.0)
print("chosen:", grid.best.describe(), f"final risk {grid.best_value:.4f} (theory)")
check = compare.confirm_tuning(problem, grid, d=200, seeds=32, alternatives=[4, 16])
for (optimizer, _, _), (theory, mean, se) in zip(check.runs, check.final_values()):
    print(f"{optimizer.describe():32s} theory {theory:.4f}  simulated {mean:.4f} ± {se:.4f}")
check.figure().savefig("tune_confirmed.png")
critical = tune_figures.critical_line(problem, grid.best, "batch", batches)
tune_figures.phase_diagram(grid, critical=critical).savefig("tune.png")
