"""Confirm a choice made from theory by simulating it next to its alternatives.

`confirm_tuning` takes the `TuneResult` of a grid (or random) search, and simulates the chosen
optimizer and, for every other value of one grid axis (by default the batch axis of the
optimizer's phase diagram: `batch` for SGD, `batch_fraction` for prox-linear), the best
candidate with that value, all for the chosen run's budget: its t to the target for
"samples_to_target", else the search budget. `TuningCheck.figure()` draws them (theory
lines, simulated means ± SE, the target).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from matplotlib.figure import Figure

from hild import simulate
from hild import theory as th
from hild.theory import AbstractOptimizer, AbstractProblem, Curve

from .overlay import overlay
from .tune import TuneResult, with_values


@dataclasses.dataclass(frozen=True)
class TuningCheck:
    """The chosen optimizer first, then the alternatives: (optimizer, theory, simulation), each
    over `budget` samples/d."""

    result: TuneResult
    budget: float
    runs: list[tuple[AbstractOptimizer, Curve, Curve]]

    def final_values(self) -> list[tuple[float, float, float]]:
        """(predicted, simulated mean, its standard error) at the end of the budget, per run."""
        return [(float(np.asarray(theory.risk)[-1]), float(sim.mean()[-1]), float(sim.stderr()[-1]))
                for _, theory, sim in self.runs]

    def figure(self) -> Figure:
        """Theory lines and simulated mean ± SE of the chosen and the alternative settings."""
        fig = Figure(figsize=(6.4, 4.4), dpi=150, layout="constrained")
        ax = fig.add_subplot()
        for i, (opt, theory, sim) in enumerate(self.runs):
            tag = "chosen: " if i == 0 else ""
            overlay(theory, sim, ax=ax, color=f"C{i}", max_seeds=0, title="",
                    label=f"{tag}{opt.describe()}")
        if self.result.target is not None:
            ax.axhline(self.result.target, color="crimson", ls=":", lw=1,
                       label=f"target {self.result.target:g}")
        ax.legend(fontsize=7, frameon=False, loc="upper right")
        d = self.runs[0][2].metadata.get("d")
        what = (f"fewest samples to {self.result.target:g}"
                if self.result.objective == "samples_to_target" else self.result.objective)
        ax.set_title(f"tuned from theory ({what}), then the best of each alternative\n"
                     f"budget t = {self.budget:g} samples/d; simulation at d = {d}", fontsize=9)
        return fig


def _best_per_value(result: TuneResult, axis: str) -> list[int]:
    """The chosen candidate, then the best candidate for each other value of `axis`."""
    ranking = result.ranking()
    chosen = int(ranking[0])
    column = result.candidates[axis]
    picks = [chosen]
    for value in np.unique(column):
        if math.isclose(value, column[chosen]):
            continue
        best = next((int(i) for i in ranking if column[i] == value and np.isfinite(result.values[i])),
                    None)
        if best is not None:
            picks.append(best)
    return picks


def confirm_tuning(problem: AbstractProblem, result: TuneResult, *, d: int | None = None,
                   seeds: int = 50, key: int = 0, dtype: str = "float32", axis: str | None = None,
                   alternatives=None, num_points: int = 201) -> TuningCheck:
    """Simulate the choice of `result` and its best alternatives along `axis` (only the values
    in `alternatives`, if given) for the chosen run's budget. Runs whose theory has steps get
    the whole steps that fit in the budget (skipped if none fits)."""
    if not result.candidates:
        raise ValueError("confirm_tuning needs a grid or random search (the gradient engine "
                         "has one candidate)")
    axis = axis or (type(result.best).diagram_axes or (None, None))[1]
    if axis not in result.candidates:
        raise ValueError(f"axis must be one of {', '.join(result.candidates)} (got {axis!r})")
    budget = result.best_value if result.objective == "samples_to_target" else result.budget
    runs = []
    for rank, index in enumerate(_best_per_value(result, axis)):
        value = result.candidates[axis][index]
        if rank and alternatives is not None and not any(math.isclose(value, a) for a in alternatives):
            continue
        row = {p: c[index] for p, c in result.candidates.items()}
        opt = th.optimizer_from_config(th.Table(with_values(result.best, row).to_config(), "optimizer"))
        clock = problem.clock(opt)
        if clock is None:
            horizon = {"t": budget}
        else:
            steps = math.floor(budget * clock.d / float(clock.samples) + 1e-9)
            if steps < 1:
                continue
            horizon = {"steps": steps}
        theory = th.predict(problem, opt, num_points=num_points, **horizon)
        sim = simulate.simulate(problem, opt, d=d, seeds=seeds, key=key + len(runs), dtype=dtype,
                                num_points=num_points, **horizon)
        runs.append((opt, theory, sim))
    return TuningCheck(result, float(budget), runs)


__all__ = ["TuningCheck", "confirm_tuning"]
