"""Compute-optimal scaling laws from theory: the loss of every model size at every compute
budget, the frontier d*(f) and P*(f), their fitted exponents against the family's predicted
ones, and simulated points at small sizes (docs/theory.md, Power-law random features).

Compute is f = d × samples (one sample costs d multiply-adds in the forward pass). Generic:
any family whose problem has `with_model_size(d)` (and, for the predicted exponents,
`compute_optimal_exponents()`); the loss at a budget comes from `theory.predict` at the
record times t = f / d² (samples/d).
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from hild.simulate import simulate
from hild.theory import MAX_STEPS, ScalingLaw, method_of, predict, theory_for


@dataclasses.dataclass(frozen=True)
class Frontier:
    """`loss[i, j]`: the theory's loss of model size `sizes[i]` at compute `compute[j]` (NaN
    below one step or beyond 2^31 - 1 steps). `best_size`/`best_loss`: the frontier (d*
    refined by a parabola in log d through the grid's best three; NaN where the best size is
    an end of the grid).
    `fit`: exponents fitted on log-log axes where d* is inside the grid, with the window.
    `simulated`: {size: (compute, mean, stderr, z)} at the simulated sizes."""

    sizes: np.ndarray
    compute: np.ndarray
    loss: np.ndarray
    best_size: np.ndarray
    best_loss: np.ndarray
    fit: dict
    predicted: dict | None
    simulated: dict
    label: str = ""

    def diverged_sizes(self) -> list[int]:
        """Sizes whose theory diverged at some budget (the rate is unstable there)."""
        return [int(d) for d, row in zip(self.sizes, self.loss) if np.any(np.isinf(row))]

    def summary(self) -> dict:
        """scaling.json's content: fitted and predicted exponents, sizes, compute range, diverged
        sizes and, where simulated, max |z| per size (null where no z is finite)."""
        out = {"fit": self.fit, "predicted": self.predicted, "sizes": self.sizes.tolist(),
               "compute_range": [float(self.compute[0]), float(self.compute[-1])],
               "diverged_sizes": self.diverged_sizes()}
        if self.simulated:  # JSON never holds NaN: no finite z (e.g. a diverged run) is null
            out["simulation"] = {
                str(d): {"max_abs_z": float(np.max(np.abs(z[np.isfinite(z)]))) if np.isfinite(z).any() else None,
                         "points": int(np.sum(np.isfinite(z)))}
                for d, (_, _, _, z) in self.simulated.items()}
        return out

    def rows(self) -> tuple[list[str], list[list]]:
        """frontier.csv: one row per budget: compute, d*, P*, then the loss of every size."""
        header = ["compute", "best_size", "best_loss"] + [f"loss_d{d}" for d in self.sizes]
        rows = [[f"{f:.6g}", _num(s), _num(p)] + [_num(x) for x in self.loss[:, j]]
                for j, (f, s, p) in enumerate(zip(self.compute, self.best_size, self.best_loss))]
        return header, rows

    def figure(self):
        """Left: the loss of every size against compute, the frontier, simulated points;
        right: d*(f) with its fit and the predicted slope. (matplotlib is imported here,
        when a figure is drawn, to keep `hild` quick to start.)"""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10, 4.2), dpi=150, layout="constrained")
        ax, bx = fig.subplots(1, 2)
        colors = _size_colors(len(self.sizes))
        for i, d in enumerate(self.sizes):
            ax.loglog(self.compute, self.loss[i], "-", lw=0.9, color=colors[i], alpha=0.85)
        ok = np.isfinite(self.best_loss)
        ax.loglog(self.compute[ok], self.best_loss[ok], "k-", lw=2.2, label="frontier P*(f) (theory)")
        if self.diverged_sizes():
            ax.plot([], [], " ", label=f"diverged (rate unstable): d = {self.diverged_sizes()}")
        for d, (f, mean, se, _) in self.simulated.items():
            i = int(np.flatnonzero(self.sizes == d)[0])
            ax.errorbar(f, mean, yerr=2 * se, fmt="o", ms=3.5, color=colors[i], mec="k", mew=0.4,
                        elinewidth=0.8, label=f"simulation d={d} (±2 SE)")
        fig.colorbar(_size_scale(self.sizes), ax=ax, label="model size d (thin lines)", pad=0.01)
        fig.get_layout_engine().set(wspace=0.06)  # the colour bar's label clear of the right panel
        ax.set_xlabel("compute f = d × samples")
        ax.set_ylabel("loss")
        ax.set_title(f"{self.label}\nthin lines: theory at d = {self.sizes[0]} … {self.sizes[-1]}", fontsize=9)
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(frameon=False, fontsize=7)
        bx.loglog(self.compute[ok], self.best_size[ok], "ko", ms=3, label="d*(f), theory")
        lo, hi = self.fit.get("window", [np.nan, np.nan])
        if np.isfinite(lo):
            f = np.geomspace(lo, hi, 20)
            bx.loglog(f, np.exp(self.fit["model_size_intercept"]) * f ** self.fit["model_size"], "r-",
                      lw=1.2, label=f"fit: d* ∝ f^{self.fit['model_size']:.3f}, "
                                    f"P* ∝ f^-{self.fit['loss']:.3f}")
            if self.predicted and self.predicted.get("model_size") is not None:
                x = self.predicted["model_size"]
                mid = np.sqrt(lo * hi)
                anchor = np.exp(self.fit["model_size_intercept"]) * mid ** self.fit["model_size"]
                bx.loglog(f, anchor * (f / mid) ** x, "b--", lw=1.2,
                          label=f"phase {self.predicted['phase']}: d* ∝ f^{x:.3f}, "
                                f"P* ∝ f^-{self.predicted['loss']:.3f}")
        bx.set_xlabel("compute f")
        bx.set_ylabel("compute-optimal model size d*")
        bx.grid(True, which="both", alpha=0.25)
        bx.legend(frameon=False, fontsize=7)
        return fig


def model_sizes(low: int, high: int, per_octave: int) -> np.ndarray:
    """Integer sizes from `low` to `high`, `per_octave` per doubling (log-spaced)."""
    num = round(np.log2(high / low) * per_octave) + 1
    return np.unique(np.round(np.geomspace(low, high, num)).astype(int))


def frontier(problem, optimizer, sizes, compute, *, method=None, replicas=1, simulate_sizes=(),
             simulate_compute_max=None, simulation=None, progress=None) -> Frontier:
    """The loss at every (size, compute) from theory — the mean over `replicas` independent
    draws of the model's random parts (`with_model_size(d, replica)`) — the frontier and its
    exponents; with `simulate_sizes`, simulations of replica 0 (`simulation`: seeds, key,
    dtype, ...) at budgets up to `simulate_compute_max`, scored against replica 0's theory."""
    sizes, compute = np.asarray(sizes, dtype=int), np.asarray(compute, dtype=np.float64)
    if not isinstance(problem, ScalingLaw):
        raise TypeError(f"{type(problem).__name__} ({problem.family}) has no model size to scale "
                        f"(it does not implement theory.protocols.ScalingLaw)")
    theory_for(problem, optimizer, method_of(type(problem), method))  # refused before any work
    draws = np.zeros((replicas, sizes.size, compute.size))
    first = {}
    for i in np.argsort(sizes)[::-1]:  # the largest first: a size the problem refuses fails fast
        d = int(sizes[i])
        for r in range(replicas):
            p = problem.with_model_size(d, r)
            if progress and r == 0:
                progress(f"theory at d = {d}" + (f" ({replicas} replicas)" if replicas > 1 else ""))
            t, cols = _times(p, optimizer, compute)
            row = np.full(compute.size, np.nan)
            if cols.size:
                row[cols] = np.asarray(predict(p, optimizer, save_at=t, method=method,
                                               save_state=False).risk)
            draws[r, i] = row
            if r == 0 and d in simulate_sizes:
                first[d] = (p, row)
    loss = draws.mean(axis=0)
    best_size, best_loss = _best(sizes, loss)
    fit = _fit(sizes, compute, best_size, best_loss)
    if replicas > 1:
        fit["draws"] = _draw_spread(sizes, compute, draws)
    simulated = {}
    for d in simulate_sizes:
        if progress:
            progress(f"simulation at d = {d}")
        p, theory_row = first[int(d)]
        budget = compute[compute <= (simulate_compute_max or compute[-1])]
        t, cols = _times(p, optimizer, budget)
        sim = simulate(p, optimizer, save_at=t, save_state=False, **(simulation or {}))
        mean, se = sim.mean(), sim.stderr()
        simulated[int(d)] = (budget[cols], mean, se, (mean - theory_row[cols]) / se)
    predicted = problem.compute_optimal_exponents()
    label = re.sub(r",?\s*\bd\s*=\s*\d+", "", problem.describe())  # the sizes vary: drop "d=…"
    if replicas > 1:
        label += f", mean of {replicas} draws"
    return Frontier(sizes, compute, loss, best_size, best_loss, fit, predicted, simulated, label)


def _draw_spread(sizes, compute, draws) -> dict:
    """The exponents fitted on each draw's own frontier: their values, mean and standard
    deviation (the draw-to-draw spread the mean over draws removes)."""
    fits = [_fit(sizes, compute, *_best(sizes, row)) for row in draws]
    out = {"count": len(fits)}
    for name in ("model_size", "loss"):
        values = [f[name] for f in fits if name in f]
        out[name] = values
        if len(values) > 1:
            out[f"{name}_mean"], out[f"{name}_std"] = float(np.mean(values)), float(np.std(values, ddof=1))
    return out


def _times(problem, optimizer, compute):
    """Record times t = samples/d for the budgets that buy from one to `MAX_STEPS` steps."""
    samples = compute / problem.d
    batch = float(optimizer.batch)
    cols = np.flatnonzero((samples >= batch) & (samples / batch <= MAX_STEPS))
    return samples[cols] / problem.d, cols


def _best(sizes, loss):
    logd = np.log(sizes.astype(np.float64))
    best_size = np.full(loss.shape[1], np.nan)
    best_loss = np.full(loss.shape[1], np.nan)
    for j in range(loss.shape[1]):
        col = loss[:, j]
        if not np.any(np.isfinite(col)):
            continue
        i = int(np.nanargmin(col))
        if 0 < i < len(sizes) - 1 and np.all(np.isfinite(col[i - 1:i + 2])):
            parabola = np.polyfit(logd[i - 1:i + 2], np.log(col[i - 1:i + 2]), 2)
            a, b, _ = parabola
            vertex = -b / (2 * a) if a > 0 else logd[i]
            best_size[j] = np.exp(np.clip(vertex, logd[i - 1], logd[i + 1]))
            best_loss[j] = np.exp(np.polyval(parabola, np.log(best_size[j])))
    return best_size, best_loss


def _fit(sizes, compute, best_size, best_loss) -> dict:
    """Least-squares slopes of log d* and log P* against log f where d* lies in
    [2 d_min, d_max / 2] (away from the grid's ends)."""
    ok = np.isfinite(best_size) & (best_size >= 2 * sizes[0]) & (best_size <= sizes[-1] / 2)
    if ok.sum() < 3:
        return {"points": int(ok.sum())}
    lf, ls, lp = np.log(compute[ok]), np.log(best_size[ok]), np.log(best_loss[ok])
    (x, x0), (y, _) = np.polyfit(lf, ls, 1), np.polyfit(lf, lp, 1)
    out = {"model_size": float(x), "loss": float(-y), "model_size_intercept": float(x0),
           "window": [float(compute[ok][0]), float(compute[ok][-1])], "points": int(ok.sum())}
    upper = lf >= 0.5 * (lf[0] + lf[-1])  # the upper half in log f, past the early transient
    if upper.sum() >= 3:
        out["upper_half"] = {"model_size": float(np.polyfit(lf[upper], ls[upper], 1)[0]),
                             "loss": float(-np.polyfit(lf[upper], lp[upper], 1)[0]),
                             "points": int(upper.sum())}
    return out


def _size_colors(n: int):
    from matplotlib import colormaps
    return colormaps["viridis"](np.linspace(0.0, 0.9, n))


def _size_scale(sizes):
    """The colour scale of `_size_colors` over the (log-spaced) sizes, for a colour bar."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, LogNorm
    cmap = ListedColormap(colormaps["viridis"](np.linspace(0.0, 0.9, 256)))
    return ScalarMappable(LogNorm(sizes[0], sizes[-1]), cmap)


def _num(x) -> str:
    return f"{x:.6g}" if np.isfinite(x) else ""
