"""Agreement between a theory curve and a simulated one: z-scores and relative deviations."""

from __future__ import annotations

import dataclasses

import numpy as np

from hild.theory import Curve


@dataclasses.dataclass(frozen=True)
class Report:
    """How far the simulated mean lies from theory, at the compared points.

    `z = (mean - theory) / SE` (SE: standard error of the seed mean) at times `t_z`;
    `rel = |mean - theory| / |theory|` at times `t`, except where theory is zero up to
    round-off (e.g. an overlap that starts at 0): there the deviation is relative to the
    curve's scale, `max |theory|` over the compared points (docs/theory.md, Agreement
    statistics). Seeds that diverged are left out of the mean and counted; points where
    theory diverged are not compared.
    """

    t: np.ndarray
    z: np.ndarray
    t_z: np.ndarray
    rel: np.ndarray
    seeds: int
    diverged_seeds: int
    theory_diverged: bool
    theory_diverged_t: float = float("inf")
    theory: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    deviation: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    """The theory and `mean - theory` at the compared times `t`."""

    @property
    def compared(self) -> bool:
        """False when nothing could be compared (fewer than 2 seeds stayed finite, or theory
        diverged before the first compared point)."""
        return bool(self.t.size)

    @property
    def max_abs_z(self) -> float:
        """The largest |z| over the checkpoints (NaN without any)."""
        return float(np.max(np.abs(self.z))) if self.z.size else float("nan")

    @property
    def t_max_z(self) -> float:
        """The time t of the checkpoint with the largest |z|."""
        return float(self.t_z[np.argmax(np.abs(self.z))]) if self.z.size else float("nan")

    @property
    def max_rel(self) -> float:
        """The largest relative deviation |mean − theory| / |theory| (NaN without any)."""
        return float(np.max(self.rel)) if self.rel.size else float("nan")

    @property
    def t_max_rel(self) -> float:
        """The time t of the largest relative deviation."""
        return float(self.t[np.argmax(self.rel)]) if self.rel.size else float("nan")

    @property
    def scale(self) -> float:
        """The curve's scale: max |theory| over the compared points."""
        return float(np.max(np.abs(self.theory))) if self.theory.size else float("nan")

    @property
    def max_abs_deviation(self) -> float:
        return float(np.max(np.abs(self.deviation))) if self.deviation.size else float("nan")

    def within(self, n_se: float) -> bool:
        """True when every compared point lies within `n_se` standard errors."""
        return bool(self.z.size) and self.max_abs_z <= n_se

    def to_dict(self) -> dict:
        """Plain JSON values; what could not be measured is null."""
        def num(x: float):
            return float(x) if np.isfinite(x) else None

        return {"compared": self.compared, "max_abs_z": num(self.max_abs_z),
                "t_at_max_abs_z": num(self.t_max_z), "max_rel_deviation": num(self.max_rel),
                "t_at_max_rel_deviation": num(self.t_max_rel),
                "max_abs_deviation": num(self.max_abs_deviation), "scale": num(self.scale),
                "points": int(self.t.size),
                "seeds": self.seeds, "diverged_seeds": self.diverged_seeds,
                "theory_diverged": self.theory_diverged,
                "theory_diverged_t": num(self.theory_diverged_t)}

    def __str__(self) -> str:
        if not self.compared:
            text = (f"not compared: {self.seeds - self.diverged_seeds} of {self.seeds} seeds "
                    "stayed finite" if self.seeds - self.diverged_seeds < 2 else
                    "not compared: theory diverged before the first compared point")
        else:
            z = (f"max |z| = {self.max_abs_z:.2f} at t = {self.t_max_z:.4g}" if self.z.size else
                 "no z (every seed agrees up to round-off)")
            rel = (f"max relative deviation = {self.max_rel:.2%} at t = {self.t_max_rel:.4g}"
                   if np.isfinite(self.max_rel) else
                   f"max deviation = {self.max_abs_deviation:.3g} (theory is 0)")
            text = f"{z}; {rel} ({self.t.size} points, {self.seeds} seeds)"
        if self.diverged_seeds or self.theory_diverged:
            text += (f"; diverged: theory {'yes' if self.theory_diverged else 'no'}, "
                     f"{self.diverged_seeds} seeds")
        return text


def agreement(theory: Curve, sim: Curve, *, checkpoints: int | None = None,
              t_min: float = 0.0, observable: str = "risk") -> Report:
    """Compare `sim` (a simulated Curve) with `theory` at the simulation's recorded times,
    for the risk or one of the family's named `observable`s.

    Theory is interpolated onto the simulation's t where the grids differ. Points with zero
    standard error and zero deviation (e.g. t = 0, where both start at the same state) are
    skipped. `checkpoints` keeps that many evenly spaced points: z at a handful of
    checkpoints is a fair test, while hundreds of correlated points at 3 SE each fail by
    chance (docs/theory.md, Agreement statistics). `t_min` drops earlier points.
    """
    if not sim.is_simulation:
        raise ValueError("sim must be a simulated Curve (risk of shape (seeds, T))")
    if theory.is_simulation:
        raise ValueError("theory must be a theory Curve (risk of shape (T,))")
    t_sim = np.asarray(sim.t, dtype=np.float64)
    t_th = np.asarray(theory.t, dtype=np.float64)
    th_risk = theory.values(observable)
    if t_sim.shape == t_th.shape and np.allclose(t_sim, t_th, rtol=1e-9, atol=1e-12):
        predicted = th_risk
    else:
        if t_sim.max() > t_th.max() * (1 + 1e-9) or t_sim.min() < t_th.min() - 1e-12:
            raise ValueError(f"theory covers t in [{t_th.min():g}, {t_th.max():g}], "
                             f"the simulation [{t_sim.min():g}, {t_sim.max():g}]")
        predicted = np.interp(t_sim, t_th, th_risk)
    risk = sim.values(observable)
    finite_seeds = np.all(np.isfinite(risk), axis=1)
    risk = risk[finite_seeds]
    theory_diverged = bool(np.asarray(theory.diverged))
    theory_dt = float(np.asarray(theory.diverged_t))
    if risk.shape[0] < 2:  # a legitimate result: nothing left to compare
        empty = np.zeros(0)
        return Report(t=empty, z=empty, t_z=empty, rel=empty, seeds=int(sim.risk.shape[0]),
                      diverged_seeds=int((~finite_seeds).sum()),
                      theory_diverged=theory_diverged, theory_diverged_t=theory_dt)
    mean = risk.mean(axis=0)
    se = risk.std(axis=0, ddof=1) / np.sqrt(risk.shape[0])
    diff = mean - predicted
    # Where every seed agrees up to round-off (e.g. t = 0, where all start at the same
    # state) z is undefined: such points count in the relative deviation only.
    dtype = np.dtype(sim.metadata.get("dtype", "float64"))
    deterministic = se <= 100 * np.finfo(dtype).eps * np.abs(mean)
    keep = np.isfinite(predicted) & (t_sim >= t_min)
    idx = np.flatnonzero(keep)
    if checkpoints is not None and idx.size > checkpoints:
        idx = idx[np.unique(np.round(np.linspace(0, idx.size - 1, checkpoints)).astype(int))]
    rel = relative_deviation(diff[idx], predicted[idx])
    zi = idx[~deterministic[idx]]
    z = diff[zi] / se[zi]
    return Report(t=t_sim[idx], z=z, t_z=t_sim[zi], rel=rel, seeds=int(sim.risk.shape[0]),
                  diverged_seeds=int((~finite_seeds).sum()),
                  theory_diverged=theory_diverged, theory_diverged_t=theory_dt,
                  theory=predicted[idx], deviation=diff[idx])


def relative_deviation(diff: np.ndarray, theory: np.ndarray) -> np.ndarray:
    """`|diff| / |theory|`, and `|diff| / scale` where theory is zero up to round-off
    (scale = max |theory|; an all-zero theory gives 0 where diff is 0 too, else inf)."""
    size = np.abs(theory)
    scale = float(size.max()) if size.size else 0.0
    tiny = size <= 1e3 * np.finfo(np.float64).eps * scale
    denominator = np.where(tiny, scale, size)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(diff) / denominator
    return np.where(np.abs(diff) == 0, 0.0, rel)
