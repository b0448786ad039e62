"""Validation of the deterministic-rate theory of adaptive SGD (docs/theory.md, Least
squares: adaptive rates).

Part 1 (`main`): at d = 250, 500, 1000, 2000 the gap between theory and the mean of 64
seeds, risk and rate `lr`, at every recorded point, with a fit of log(max gap) on log d.
Part 2 (`bias`): the gap at t = 1 with 2,000 seeds at d = 125 … 1000, where it stands above
the noise, and its d-scaling exponent.

`python scripts/validate_adaptive.py [bias]` prints one line per (rule, d) and the exponents.
"""

import jax
import numpy as np

from hild import simulate
from hild import theory as th

jax.config.update("jax_enable_x64", True)

RULES = [th.AdaptiveSGD("adagrad_norm", 2.0, batch=4, b0=0.5), th.AdaptiveSGD("line_search", 1.0, batch=4),
         th.AdaptiveSGD("polyak", 0.5, batch=4)]
DIMS = (250, 500, 1000, 2000)
SEEDS = 64


def main():
    for opt in RULES:
        gaps = {"risk": [], "lr": []}
        for d in DIMS:
            problem = th.LinearRegression(th.spectra.marchenko_pastur(d, 0.5), noise=0.3)
            curve = th.predict(problem, opt, t=2.0, num_points=5)
            sim = simulate.simulate(problem, opt, t=2.0, num_points=5, seeds=SEEDS, key=9,
                                    dtype="float64", save_state=False)
            parts = []
            for name, theory_values, values in (("risk", curve.risk, sim.risk),
                                                ("lr", curve.observables["lr"], sim.observables["lr"])):
                values, theory_values = np.asarray(values)[:, 1:], np.asarray(theory_values)[1:]
                se = values.std(0, ddof=1) / np.sqrt(SEEDS)
                gap = np.abs(values.mean(0) - theory_values) / theory_values
                z = np.abs(values.mean(0) - theory_values) / se
                gaps[name].append(gap.max())
                parts.append(f"{name}: max|z|={z.max():.2f} max rel gap={gap.max():.2e}")
            print(f"{opt.rule:13s} d={d:5d} seeds={SEEDS} " + "; ".join(parts), flush=True)
        for name, values in gaps.items():
            slope = np.polyfit(np.log(DIMS), np.log(values), 1)[0]
            print(f"{opt.rule:13s} {name}: max relative gap ~ d^{slope:.2f}", flush=True)


def bias(seeds=2000, dims=(125, 250, 500, 1000)):
    for opt in RULES:
        gaps = {"risk": [], "lr": []}
        for d in dims:
            problem = th.LinearRegression(th.spectra.marchenko_pastur(d, 0.5), noise=0.3)
            curve = th.predict(problem, opt, save_at=[1.0])
            sim = simulate.simulate(problem, opt, save_at=[1.0], seeds=seeds, key=13,
                                    dtype="float64", save_state=False)
            parts = []
            for name, theory_value, values in (("risk", curve.risk, sim.risk),
                                               ("lr", curve.observables["lr"], sim.observables["lr"])):
                values, theory_value = np.asarray(values)[:, -1], float(np.asarray(theory_value)[-1])
                gap = (values.mean() - theory_value) / theory_value
                se = values.std(ddof=1) / np.sqrt(seeds) / theory_value
                gaps[name].append(abs(gap))
                parts.append(f"{name}: rel gap={gap:+.2e} ({gap / se:+.1f} SE)")
            print(f"{opt.rule:13s} d={d:5d} seeds={seeds} " + "; ".join(parts), flush=True)
        for name, values in gaps.items():
            slope = np.polyfit(np.log(dims), np.log(values), 1)[0]
            print(f"{opt.rule:13s} {name}: |gap| at t = 1 ~ d^{slope:.2f}", flush=True)


if __name__ == "__main__":
    import sys

    bias() if sys.argv[1:] == ["bias"] else main()
