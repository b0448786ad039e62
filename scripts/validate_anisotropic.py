"""Agreement of the per-eigenvalue ODEs (docs/theory.md, Anisotropic inputs) with simulation.

For every case, at two d: max |z| of the mean of the seeds against the theory at 10
checkpoints, the max relative gap, and the gap's d-scaling exponent (a fit of log gap on log
d). GLM cases start the theory at the mean start (m_g = 0); multi-index cases run it from
every seed's measured start and average (`compare.per_seed_theory`: the committee's
specialisation amplifies the start's O(d^-1/2) fluctuations). Then the cost of one unit of t
of the theory against d for a spectrum without multiplicities (G = d) and one with two
(G = 2).

`python scripts/validate_anisotropic.py [agreement|adaptive|bias|cost]` prints one line per case and d.
"""

import sys
import time

import jax
import numpy as np

from hild import simulate
from hild import theory as th
from hild.compare.agreement import agreement
from hild.compare.per_seed import per_seed_theory, seed_states
from hild.theory.glm import GLM
from hild.theory.multi_index import MultiIndex

jax.config.update("jax_enable_x64", True)
SEEDS = 64
CASES = {
    "glm relu two_bulk σ=0.1 η=0.5": (
        lambda d: GLM(th.spectra.two_bulk(d, 10.0, 0.5), link="relu", noise=0.1), th.SGD(0.5), 10.0),
    "glm erf power_law(1) κ=0.05 B=2 β=0.5": (
        lambda d: GLM(th.spectra.power_law(d, 1.0), link="erf", noise=0.2, weight_decay=0.05),
        th.SGD(0.4, batch=2, momentum=0.5), 10.0),
    "glm logistic sign→erf power_law(0.5)": (
        lambda d: GLM(th.spectra.power_law(d, 0.5), link="sign", activation="erf", loss="logistic"),
        th.SGD(1.0), 10.0),
    "glm relu power_law(1) cosine": (
        lambda d: GLM(th.spectra.power_law(d, 1.0), th.spectra.power_law_teacher(
            th.spectra.power_law(d, 1.0), 0.5), link="relu", noise=0.1),
        th.SGD(th.schedules.cosine(1.0, 10.0, 0.1)), 10.0),
    "multi_index K=M=2 erf two_bulk σ=0.1": (
        lambda d: MultiIndex(2, 2, th.spectra.two_bulk(d, 10.0, 0.5), activation="erf",
                             noise=0.1, init_scale=0.3), th.SGD(0.5), 10.0),
}
DIMS = {"glm": (200, 800), "multi_index": (150, 600)}


def agreement_table(names=None):
    for name, (make, opt, t_end) in CASES.items():
        if names and not any(n in name for n in names):
            continue
        gaps, dims = [], DIMS[name.split()[0]]
        for d in dims:
            problem = make(d)
            sim = simulate.simulate(problem, opt, t=t_end, num_points=11, seeds=SEEDS, key=3,
                                    dtype="float64")
            if isinstance(problem, MultiIndex):
                curve = per_seed_theory(problem, opt, seed_states(sim), t=t_end, num_points=11)
            else:
                curve = th.predict(problem, opt, t=t_end, num_points=11)
            report = agreement(curve, sim, checkpoints=10)
            gap = np.abs(np.asarray(sim.risk).mean(0) - np.asarray(curve.risk))[1:]
            gaps.append(gap.max())
            print(f"{name:42s} d={d:4d} seeds={SEEDS} max|z|={report.max_abs_z:.2f} "
                  f"max rel gap={report.max_rel:.2e} max abs gap={gap.max():.2e}", flush=True)
        slope = np.log(gaps[1] / gaps[0]) / np.log(dims[1] / dims[0])
        print(f"{name:42s} max abs gap ~ d^{slope:.2f}", flush=True)


def adaptive_table(seeds=32, dims=(200, 800)):
    """AdaGrad-norm (η = 2√d, b0 = √d: an O(1) rate) and the line search on the relu
    two-bulk GLM, B = 2: max |z| of the risk and of `lr` at t > 0 (5 checkpoints)."""
    for rule in ("line_search", "adagrad_norm"):
        for d in dims:
            problem = GLM(th.spectra.two_bulk(d, 10.0, 0.5), link="relu", noise=0.1)
            opt = th.AdaptiveSGD(rule, 1.0, batch=2) if rule == "line_search" else \
                th.AdaptiveSGD(rule, 2.0 * np.sqrt(d), batch=2, b0=np.sqrt(d))
            curve = th.predict(problem, opt, t=10.0, num_points=6)
            sim = simulate.simulate(problem, opt, t=10.0, num_points=6, seeds=seeds, key=0,
                                    dtype="float64")
            parts = []
            for what in ("risk", "lr"):
                report = agreement(curve, sim, observable=what, t_min=1.0)
                parts.append(f"{what}: max|z|={report.max_abs_z:.2f} max rel gap={report.max_rel:.2e}")
            print(f"{rule:13s} d={d:4d} seeds={seeds} " + "; ".join(parts), flush=True)


def bias(seeds=1000, dims=(100, 200, 400, 800)):
    """The relu two-bulk GLM's gap at t = 2 with many seeds, where it stands above the noise,
    and its d-scaling exponent."""
    gaps = []
    for d in dims:
        problem = GLM(th.spectra.two_bulk(d, 10.0, 0.5), link="relu", noise=0.1)
        curve = th.predict(problem, th.SGD(0.5), save_at=[0.0, 2.0])
        sim = simulate.simulate(problem, th.SGD(0.5), save_at=[0.0, 2.0], seeds=seeds, key=11,
                                dtype="float64", save_state=False)
        runs, theory = np.asarray(sim.risk)[:, -1], float(np.asarray(curve.risk)[-1])
        se = runs.std(ddof=1) / np.sqrt(seeds)
        gaps.append(runs.mean() - theory)
        print(f"bias d={d:4d} seeds={seeds} theory={theory:.6f} mean={runs.mean():.6f} "
              f"gap={gaps[-1]:+.2e} se={se:.1e}", flush=True)
    slope = np.polyfit(np.log(dims), np.log(np.abs(gaps)), 1)[0]
    print(f"bias: |gap| ~ d^{slope:.2f}", flush=True)


def cost(dims=(100, 1000, 10_000)):
    opt = th.SGD(0.5)
    for kind, spectrum in (("G=d", lambda d: th.spectra.power_law(d, 1.0)),
                           ("G=2", lambda d: th.spectra.two_bulk(d, 10.0, 0.5))):
        for d in dims:
            for label, problem in (("glm relu", GLM(spectrum(d), link="relu")),
                                   ("multi_index K=M=2 erf", MultiIndex(2, 2, spectrum(d)))):
                th.predict(problem, opt, t=10.0, num_points=2)  # compile
                start = time.perf_counter()
                jax.block_until_ready(th.predict(problem, opt, t=10.0, num_points=2).risk)
                per_t = (time.perf_counter() - start) / 10.0
                print(f"cost {label:22s} {kind} d={d:6d}: {per_t * 1e3:.2f} ms per unit t (warm)",
                      flush=True)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "agreement"
    if what == "cost":
        cost()
    elif what == "bias":
        bias()
    elif what == "adaptive":
        adaptive_table()
    else:
        agreement_table(sys.argv[2:])
