"""How a gap shrinks with d: a power-law fit on log-log axes."""

from __future__ import annotations

import dataclasses

import numpy as np
from matplotlib.figure import Figure


@dataclasses.dataclass(frozen=True)
class ScalingFit:
    """`gap ≈ prefactor · d**exponent`, fitted by least squares on log-log axes."""

    d: np.ndarray
    gap: np.ndarray
    exponent: float
    prefactor: float

    def figure(self, *, ylabel: str = "gap", title: str | None = None) -> Figure:
        r"""The measured gap against d (log-log) with the fitted power law $\propto d^{x}$."""
        fig = Figure(figsize=(4.8, 3.6), dpi=150, layout="constrained")
        ax = fig.add_subplot()
        ax.loglog(self.d, self.gap, "o", label="measured")
        grid = np.geomspace(self.d.min(), self.d.max(), 50)
        ax.loglog(grid, self.prefactor * grid**self.exponent, "-", lw=1,
                  label=f"fit $\\propto d^{{{self.exponent:.2f}}}$")
        ax.set_xlabel("$d$")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(frameon=False)
        if title:
            ax.set_title(title, fontsize=9)
        return fig


def d_scaling(d, gap) -> ScalingFit:
    """Fit `gap = c · d**p` to measured gaps at several d (all positive and finite)."""
    d = np.asarray(d, dtype=np.float64)
    gap = np.asarray(gap, dtype=np.float64)
    if d.shape != gap.shape or d.ndim != 1 or d.size < 2:
        raise ValueError("d and gap must be 1-D arrays of the same length >= 2")
    if not (np.all(np.isfinite(gap)) and np.all(gap > 0) and np.all(d > 0)):
        raise ValueError("d and gap must be positive and finite")
    slope, intercept = np.polyfit(np.log(d), np.log(gap), 1)
    return ScalingFit(d, gap, float(slope), float(np.exp(intercept)))
