"""Figures of a tuning run: the lr × batch phase diagram and a chosen schedule."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from hild.theory import AbstractOptimizer, AbstractProblem, Tunable
from hild.theory.stability import stability_limit

from .tune import TuneResult, with_values


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges on a log axis around sorted positive centres."""
    v = np.log(values)
    mids = 0.5 * (v[1:] + v[:-1])
    first = v[0] - (mids[0] - v[0]) if v.size > 1 else v[0] - 0.5
    last = v[-1] + (v[-1] - mids[-1]) if v.size > 1 else v[-1] + 0.5
    return np.exp(np.concatenate([[first], mids, [last]]))


def critical_line(problem: AbstractProblem, optimizer: AbstractOptimizer, y: str,
                  values, method: str | None = None, **options) -> np.ndarray | None:
    """The largest stable rate of the theory `method` (`theory.stability.stability_limit`, the
    `Tunable` protocol) for each value of the optimizer field `y` (e.g. the batch size); None
    where the family has no formula."""
    if not isinstance(problem, Tunable):
        return None
    limits = [stability_limit(problem, with_values(optimizer, {y: v}), method, **options)
              for v in values]
    if any(limit is None for limit in limits):
        return None
    return np.array([float(limit) for limit in limits])


def diagram_axes(result: TuneResult) -> tuple[str, str] | None:
    """The two grid axes to draw: the optimizer's (rate, batch) pair when both vary, else a
    grid's only two varying axes."""
    names = [n for n in result.candidates if np.unique(result.candidates[n]).size > 1]
    preferred = type(result.best).diagram_axes
    if preferred is not None and set(preferred) <= set(names):
        return preferred
    return (names[0], names[1]) if len(names) == 2 else None


def phase_diagram(result: TuneResult, *, x: str = "lr", y: str = "batch",
                  critical: np.ndarray | None = None, title: str | None = None) -> Figure:
    """Heatmap of the objective over a grid of `x` (e.g. lr) × `y` (e.g. batch).

    Grey cells diverged (or, for samples_to_target, never reached the target). White dots:
    the best `x` for each `y` (where linear scaling of lr with batch holds, they climb with
    slope 1; it breaks past the critical batch). Dashed: the largest `x` per row that did
    not diverge by the budget; solid: `critical` (an analytic line, see `critical_line`).
    """
    if x not in result.candidates or y not in result.candidates:
        raise ValueError(f"phase_diagram needs a grid over {x!r} and {y!r} "
                         f"(have: {', '.join(result.candidates) or 'none'})")
    xs, ys = np.unique(result.candidates[x]), np.unique(result.candidates[y])
    grid = np.full((ys.size, xs.size), np.nan)
    for xv, yv, val in zip(result.candidates[x], result.candidates[y], result.values):
        grid[np.searchsorted(ys, yv), np.searchsorted(xs, xv)] = val
    finite = np.isfinite(grid)
    fig = Figure(figsize=(6.4, 4.6), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    ax.set_facecolor("0.75")
    shown = np.ma.masked_invalid(np.where(finite, grid, np.nan))
    vmin = np.nanmin(grid[finite])
    vmax = max(min(np.nanmax(grid[finite]), 30 * vmin), vmin * 1.0001)  # clip the bad region
    norm = LogNorm(vmin, vmax) if vmax > 10 * vmin else Normalize(vmin, vmax)
    mesh = ax.pcolormesh(_edges(xs), _edges(ys), shown, norm=norm, cmap="viridis", shading="flat")
    grey = ("target not reached" if result.objective == "samples_to_target" else "diverged")
    fig.colorbar(mesh, ax=ax, extend="max",
                 label=f"{result.objective}, budget t = {result.budget:g} (grey: {grey})")
    best_per_row = [np.nanargmin(np.where(finite[i], grid[i], np.nan)) if finite[i].any() else None
                    for i in range(ys.size)]
    rows = [i for i, j in enumerate(best_per_row) if j is not None]
    ax.plot([xs[best_per_row[i]] for i in rows], ys[rows], "o", color="white", ms=4,
            label=f"best {x} per {y}")
    if result.objective != "samples_to_target":
        stable = [xs[np.flatnonzero(finite[i])[-1]] for i in range(ys.size) if finite[i].any()]
        ax.plot(stable, ys[[i for i in range(ys.size) if finite[i].any()]], "--", color="white",
                lw=1, label=f"largest {x} not diverged by the budget")
    if critical is not None:
        ax.plot(critical, ys, "-", color="crimson", lw=1.5, label=f"critical {x} (theory)")
    i_best = int(np.nanargmin(np.where(finite, grid, np.nan)))
    ax.plot(xs[i_best % xs.size], ys[i_best // xs.size], "*", color="red", ms=12, mec="white",
            label="chosen")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(_edges(xs)[0], _edges(xs)[-1])
    ax.set_ylim(_edges(ys)[0], _edges(ys)[-1])
    ticks = ys[::int(np.ceil(ys.size / 10))]  # every grid row up to 10 labels (not only 10^k)
    ax.set_yticks(ticks, [f"{v:g}" for v in ticks])
    ax.yaxis.set_minor_locator(NullLocator())
    labels = type(result.best).labels
    ax.set_xlabel(labels.get(x, x))
    ax.set_ylabel(labels.get(y, y))
    ax.legend(fontsize=7, loc="upper left", framealpha=0.8)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def schedule_figure(optimizers: dict[str, AbstractOptimizer], budget: float) -> Figure:
    """Learning rate against t for each labelled optimizer (e.g. optimised vs constant)."""
    fig = Figure(figsize=(5.2, 3.4), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    t = np.linspace(0.0, budget, 400)
    for label, opt in optimizers.items():
        ax.plot(t, np.asarray(opt.lr_at(t)), label=label)
    ax.set_xlabel(r"$t$ = samples / $d$")
    ax.set_ylabel("learning rate η(t)")
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    return fig
