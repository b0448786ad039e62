"""Theory-vs-simulation overlays: the figure a paper wants."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hild.theory import Curve
from hild.theory.protocols import observable_labels

X_LABEL = r"$t$ = samples / $d$"


def _finite(y: np.ndarray, logy: bool) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    bad = ~np.isfinite(y) | ((y <= 0) if logy else False)
    return np.where(bad, np.nan, y)  # masked for drawing only


def overlay(
    theory: Curve | None,
    sim: Curve | None = None,
    *,
    ax: Axes | None = None,
    logy: bool = True,
    logx: bool = False,
    color: str = "C0",
    max_seeds: int = 20,
    label: str | None = None,
    title: str | None = None,
    observable: str = "risk",
    references: Sequence[Curve] = (),
    spread=None,
) -> Figure:
    """Plot a theory curve (line), and a simulation: mean ± one standard error (band) with up
    to `max_seeds` individual seeds drawn faintly.

    `observable` picks the risk or one of the family's named observables (the y-axis label
    comes from the family). `references` are further theory curves of other methods (e.g. a
    Gaussian approximation), drawn dashed with their method's label. Pass `ax` to draw several overlays on one axis (then `label`
    tells them apart and the theory line takes `color` too); the figure of `ax` is returned.
    Where theory diverged a dashed vertical line marks its step (or time). `spread` (a
    `theory.fluctuations.Spread`) adds the predicted ± one standard deviation of one run
    around the theory (hatched) and, with a simulation, the measured one (dotted lines).
    """
    if theory is None and sim is None:
        raise ValueError("overlay needs a theory curve, a simulation, or both")
    if sim is not None and not sim.is_simulation:
        raise ValueError("sim must be a simulated Curve (risk of shape (seeds, T))")
    if theory is not None and theory.is_simulation:
        raise ValueError("theory must be a theory Curve (risk of shape (T,))")
    if ax is None:
        fig = Figure(figsize=(6.4, 4.4), dpi=150, layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    ref = theory if theory is not None else sim

    if sim is not None:
        t = np.asarray(sim.t, dtype=np.float64)
        values = sim.values(observable)
        faint = values[:max_seeds]
        shown = ax.get_legend_handles_labels()[1]  # several labelled overlays: one entry each
        faint_label = "individual runs (faint)" if label else f"{len(faint)} individual runs"
        band_label = "± 1 standard error"
        for i, seed in enumerate(faint):
            ax.plot(t, _finite(seed, logy), color=color, lw=0.6, alpha=0.12, zorder=1,
                    label=faint_label if i == 0 and faint_label not in shown else None)
        finite = values[np.all(np.isfinite(values), axis=1)]  # as agreement compares them
        bad = int(np.sum(np.asarray(sim.diverged)))
        extra = f", {bad} diverged" if bad else ""
        what = (f"{label}: simulation, {sim.seeds} seeds{extra}" if label else
                f"simulation, d={sim.metadata.get('d')}, mean ± SE of {len(finite)} finite "
                f"seeds{extra}" if bad else
                f"simulation, d={sim.metadata.get('d')}, mean ± SE of {sim.seeds} seeds")
        if len(finite) >= 2:
            mean = finite.mean(axis=0)
            se = finite.std(axis=0, ddof=1) / np.sqrt(len(finite))
            ax.fill_between(t, _finite(mean - se, logy), _finite(mean + se, logy), color=color,
                            alpha=0.35, lw=0, zorder=2,
                            label=band_label if band_label not in shown else None)
            ax.plot(t, _finite(mean, logy), "o", color=color, ms=2.5, zorder=3, label=what)
        if bad:
            t_div = float(np.min(np.asarray(sim.diverged_t)))
            ax.axvline(t_div, color=color, ls=":", lw=1,
                       label=f"{label + ': ' if label else ''}first seed diverged "
                             f"(t = {t_div:.3g}){'' if len(finite) >= 2 else '; ' + what}")
    if theory is not None:
        method = theory.metadata.get("method_label", theory.metadata.get("method"))
        line_color = "black" if (sim is not None and not label) else color
        y = _finite(theory.values(observable), logy)
        few = np.sum(np.isfinite(y)) < 3  # e.g. diverged after a step or two: show points
        ax.plot(np.asarray(theory.t), y, "-o" if few else "-", ms=3,
                color=line_color, lw=1.6, zorder=4,
                label=f"{label}: theory" if label else f"theory ({method})")
        if bool(np.asarray(theory.diverged)):
            t_div = float(np.asarray(theory.diverged_t))
            step = int(np.asarray(theory.diverged_step))
            when = f"step {step}" if step >= 0 else f"t = {t_div:.3g}"
            ax.axvline(t_div, color=line_color, ls="--", lw=1,
                       label=f"{label + ': ' if label else ''}theory diverged ({when})")
    if spread is not None:
        _draw_spread(ax, spread, sim, observable, logy, color)
    for i, ref_curve in enumerate(references):
        method = ref_curve.metadata.get("method_label", ref_curve.metadata.get("method"))
        ax.plot(np.asarray(ref_curve.t), _finite(ref_curve.values(observable), logy), "--",
                color=f"C{i + 1}", lw=1.4, zorder=4, label=f"theory ({method})")
    t_all = np.asarray(ref.t, dtype=np.float64)
    positive = t_all[t_all > 0]
    if positive.size:  # the whole horizon, also when a run diverged early
        ax.set_xlim(positive[0] if logx else 0.0, t_all[-1])
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(y_label(ref, observable))
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log", nonpositive="mask")  # t = 0 is left out
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7.5, frameon=False)
    if title is None:
        title = f"{ref.problem.describe()}\n{ref.optimizer.describe()}"
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def _draw_spread(ax: Axes, spread, sim: Curve | None, observable: str, logy: bool,
                 color: str) -> None:
    """The linear-noise band of one run (theory) and the runs' own mean ± one std."""
    t = np.asarray(spread.t, dtype=np.float64)
    mean, std = spread.mean(observable), spread.std(observable)
    ax.fill_between(t, _finite(mean - std, logy), _finite(mean + std, logy), facecolor="none",
                    edgecolor="0.35", hatch="////", lw=0, zorder=2,
                    label=f"theory ± 1 sd of one run (d={spread.d}, linear noise)")
    if sim is not None:
        values = sim.values(observable)
        finite = values[np.all(np.isfinite(values), axis=1)]
        if len(finite) >= 2:
            m, s = finite.mean(axis=0), finite.std(axis=0, ddof=1)
            st = np.asarray(sim.t, dtype=np.float64)
            ax.plot(st, _finite(m - s, logy), ":", color=color, lw=1.1, zorder=3,
                    label="simulation mean ± 1 sd of runs")
            ax.plot(st, _finite(m + s, logy), ":", color=color, lw=1.1, zorder=3)


def y_label(curve: Curve, observable: str = "risk") -> str:
    """The family's label of the risk or of a named observable."""
    if observable == "risk":
        return curve.metadata.get("risk_label", "risk")
    return observable_labels(curve.problem).get(observable, observable)
