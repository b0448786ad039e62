"""Rank-one sensing: confirm a prox-linear tuning chosen from theory by simulating it.

`theory.sensing.tune` picks the (step, batch fraction) that reaches a target error with the
fewest samples from the recursion alone. `confirm_tuning` runs the chosen pair and, for every
other batch fraction of the grid, its best step, for the same sample budget, at a finite d;
`TuningCheck.figure()` draws them (theory lines, simulated means ± SE) with the target.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import numpy as np
from matplotlib.figure import Figure

import simulate
import theory as th
from theory import Curve
from theory.sensing import Tuning

from .overlay import overlay


@dataclasses.dataclass(frozen=True)
class TuningCheck:
    """The chosen pair first, then the alternatives: (optimizer, theory, simulation) each over
    the chosen pair's sample budget `tuning.t` (samples/d)."""

    tuning: Tuning
    runs: list[tuple[th.ProxLinear, Curve, Curve]]

    def final_errors(self) -> list[tuple[float, float, float]]:
        """(predicted, simulated mean, its standard error) at the end of the budget, per run."""
        return [(float(np.asarray(theory.risk)[-1]), float(sim.mean()[-1]), float(sim.stderr()[-1]))
                for _, theory, sim in self.runs]

    def figure(self) -> Figure:
        fig = Figure(figsize=(6.4, 4.4), dpi=150, layout="constrained")
        ax = fig.add_subplot()
        for i, (opt, theory, sim) in enumerate(self.runs):
            tag = "chosen: " if i == 0 else ""
            overlay(theory, sim, ax=ax, color=f"C{i}", max_seeds=0, title="",
                    label=f"{tag}η={float(opt.step):g}, δ={float(opt.batch_fraction):g}")
        ax.axhline(self.tuning.target, color="crimson", ls=":", lw=1,
                   label=f"target {self.tuning.target:g}")
        ax.legend(fontsize=7, frameon=False, loc="upper right")
        d = self.runs[0][2].metadata.get("d")
        ax.set_title(f"prox-linear tuned from the recursion: fewest samples to error "
                     f"{self.tuning.target:g}\n(best step per batch fraction, budget t = "
                     f"{self.tuning.t:g}; simulation d = {d})", fontsize=9)
        return fig


def confirm_tuning(problem: th.RankOneSensing, tuning: Tuning, *, d: int, seeds: int = 50,
                   key: int = 0, dtype: str = "float32",
                   alternatives: Sequence[float] | None = None) -> TuningCheck:
    """Simulate the tuned pair and, for each other batch fraction of the grid that reaches the
    target (or those listed in `alternatives`), its best step, all for the chosen pair's
    budget of `tuning.t` samples/d (batch fractions with no full iteration in the budget are
    skipped). Theory comes from one compiled horizon, cut per run."""
    pairs = [(tuning.step, tuning.batch_fraction)]
    for j, fraction in enumerate(tuning.batch_fractions):
        column = tuning.t_to_target[:, j]
        wanted = alternatives is None or any(math.isclose(fraction, a) for a in alternatives)
        if fraction != tuning.batch_fraction and wanted and np.isfinite(column).any():
            pairs.append((float(tuning.steps[np.argmin(column)]), float(fraction)))
    iterations = [math.floor(tuning.t / f + 1e-9) for _, f in pairs]
    longest = max(iterations)
    runs = []
    for i, ((step, fraction), k) in enumerate(zip(pairs, iterations)):
        if k < 1:
            continue
        opt = th.ProxLinear(step, fraction)
        full = th.predict(problem, opt, longest, num_points=longest + 1)
        theory = eqx.tree_at(lambda c: (c.step, c.t, c.risk, c.state), full,
                             (full.step[:k + 1], full.t[:k + 1], full.risk[:k + 1],
                              jax.tree.map(lambda x: x[:k + 1], full.state)))
        sim = simulate.simulate(problem, opt, k, d=d, seeds=seeds, key=key + i,
                                num_points=k + 1, dtype=dtype)
        runs.append((opt, theory, sim))
    return TuningCheck(tuning, runs)


def bench(quick: bool = False, progress: Callable[[str], None] | None = None) -> dict:
    """Timings: the recursion (one curve) vs the simulation it replaces (bilinear, δ = 1,
    η = 1, 15 iterations; d = 1000 and 32 seeds, or d = 200 and 8 seeds with `quick`), and
    `tune` over a 6 × 5 (step, batch fraction) grid vs one curve."""
    import platform

    from .bench import GRID_POINTS, _timed, grid_vs_one_curve

    say = progress or (lambda msg: None)
    d, seeds, iterations = (200, 8, 15) if quick else (1000, 32, 15)
    problem, opt = th.RankOneSensing("bilinear", 0.1), th.ProxLinear(1.0, 1.0)
    steps, fractions = [0.5, 1, 2, 4, 8, 16], [0.5, 1, 2, 4, 8]
    say("theory: one curve")
    th_first, th_best = _timed(lambda: th.predict(problem, opt, iterations).risk, 3)
    say(f"simulation: d={d}, {seeds} seeds")
    sim_first, sim_best = _timed(lambda: simulate.simulate(problem, opt, iterations, d=d,
                                                           seeds=seeds, key=0).risk, 1)
    say("tune: 30 (step, batch fraction) pairs in one vmapped predict")
    tune = lambda: th.sensing.tune(problem, 0.01, steps, fractions, t_max=16).t_to_target
    tune_first, tune_best = _timed(tune, 1)
    curve = lambda step: th.predict(problem, th.ProxLinear(step, 1.0), iterations,
                                    num_points=iterations + 1, save_state=False).risk
    grid = grid_vs_one_curve(curve, jax.numpy.linspace(0.25, 8.0, 100 if quick else GRID_POINTS), say)
    return {
        "family": "sensing",
        "grid": grid,
        "machine": {"platform": platform.platform(), "devices": [str(x) for x in jax.devices()],
                    "jax": jax.__version__},
        "setting": {"model": "bilinear", "noise": 0.1, "step": 1.0, "batch_fraction": 1.0,
                    "iterations": iterations, "d": d, "seeds": seeds,
                    "tune_grid": [len(steps), len(fractions)]},
        "seconds": {"theory_recursion": th_best, "simulation": sim_best, "tune": tune_best},
        "compile_and_first_run_seconds": {"theory_recursion": th_first, "simulation": sim_first,
                                          "tune": tune_first},
        "ratios": {"simulation_over_recursion": sim_best / th_best,
                   "tune_over_one_curve": tune_best / th_best},
    }


__all__ = ["TuningCheck", "confirm_tuning", "bench"]
