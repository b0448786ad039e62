"""`Curve`: a learning curve from theory or simulation, as a pytree that saves to CSV + JSON."""

from __future__ import annotations

import csv
import dataclasses
import html
import importlib
import json
import os
from pathlib import Path
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .fields import Table
from .atomic import atomic_write, atomic_write_text
from ._family import AbstractProblem, problem_class
from .optim import AbstractOptimizer, optimizer_from_config


class Curve(eqx.Module):
    """A learning curve: risk, named observables and order parameters at recorded times.

    **Fields:**

    - `step`: optimizer iterations at the recorded points, shape `(T,)` (-1 for a theory in
      continuous time without d).
    - `t`: time in samples/d at those points, shape `(T,)` (the axis every family shares).
    - `risk`: the family's risk (docs/theory.md, Conventions: `0.5 E[(f - f*)^2]` on clean
      targets; the Frobenius error without the 1/2 for matrix sensing; the family's
      `risk_label()` says which); shape `(T,)` for theory, `(seeds, T)` for simulation.
      `inf` after divergence.
    - `state`: the family's order parameters over time (leading axes as `risk`), or None.
    - `diverged`: whether the run diverged (shape `()` for theory, `(seeds,)` for simulation);
      `diverged_step`: the iteration where it did (-1 if it did not, or without steps);
      `diverged_t`: its time in samples/d (inf if it did not).
    - `problem`, `optimizer`: what was run.
    - `metadata`: plain values (family, method, d, seeds, dtype, labels, ...).
    - `observables`: the family's named extra observables (e.g. per-class errors), each
      shaped as `risk`.
    """

    step: Array
    t: Array
    risk: Array
    state: Any
    diverged: Array
    diverged_step: Array
    problem: AbstractProblem
    optimizer: AbstractOptimizer
    metadata: dict = eqx.field(static=True)
    observables: dict = eqx.field(default_factory=dict)
    diverged_t: Array | None = None

    @property
    def is_simulation(self) -> bool:
        """True for a simulated curve (risk of shape (seeds, T)), False for theory (T,)."""
        return self.risk.ndim == 2

    @property
    def seeds(self) -> int:
        """The number of simulated seeds (0 for a theory curve)."""
        return self.risk.shape[0] if self.is_simulation else 0

    def values(self, name: str = "risk") -> np.ndarray:
        """The risk or a named observable, as float64."""
        if name == "risk":
            return np.asarray(self.risk, dtype=np.float64)
        if name not in self.observables:
            raise ValueError(f"observable must be one of {', '.join(['risk', *self.observables])} "
                             f"(got {name!r})")
        return np.asarray(self.observables[name], dtype=np.float64)

    def mean(self, name: str = "risk") -> np.ndarray:
        """Averaged over seeds (the values themselves for theory)."""
        values = self.values(name)
        return values.mean(axis=0) if self.is_simulation else values

    def stderr(self, name: str = "risk") -> np.ndarray:
        """Standard error of the seed mean (zeros for theory; inf where a seed diverged)."""
        values = self.values(name)
        if not self.is_simulation:
            return np.zeros_like(values)
        finite = np.all(np.isfinite(values), axis=0)
        with np.errstate(invalid="ignore"):
            se = values.std(axis=0, ddof=1) / np.sqrt(values.shape[0])
        return np.where(finite, se, np.inf)

    # ------------------------------------------------------------ notebooks

    def summary(self) -> str:
        """One line: family, method, points, horizon, seeds, divergence."""
        meta = self.metadata
        kind = meta.get("method", "?")
        if self.is_simulation:
            kind += f", d = {meta.get('d', '?')}, {self.seeds} seeds"
        t = np.asarray(self.t, dtype=np.float64)
        step = np.asarray(self.step)
        horizon = f"t = {t[-1]:.4g}" if t.size else "empty"
        if t.size and step[-1] >= 0:
            horizon += f" ({int(step[-1])} steps)"
        return (f"{meta.get('family', type(self.problem).family)} ({kind}): {t.size} points, "
                f"{horizon}, {self._divergence()}")

    def _divergence(self) -> str:
        diverged = np.asarray(self.diverged)
        if self.is_simulation:
            n = int(diverged.sum())
            return f"{n}/{self.seeds} seeds diverged" if n else "not diverged"
        if not bool(diverged):
            return "not diverged"
        when = np.asarray(self.diverged_t if self.diverged_t is not None else np.inf)
        return f"diverged at t = {float(when):.4g}" if np.isfinite(when) else "diverged"

    def __repr__(self) -> str:
        names = ", ".join(["risk", *self.observables])
        return f"Curve({self.summary()}; {names})"

    def _repr_html_(self) -> str:
        """A notebook's view: the summary and each name's first and last value."""
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{self.mean(name)[0]:.4g}</td>"
            f"<td>{self.mean(name)[-1]:.4g}</td></tr>" for name in ["risk", *self.observables]
            if np.asarray(self.t).size)
        head = "<tr><th></th><th>first</th><th>last</th></tr>"
        label = " (seed mean)" if self.is_simulation else ""
        return (f"<div><b>Curve</b> {html.escape(self.summary())}{label}"
                f"<table>{head}{rows}</table></div>")

    def to_pandas(self, seeds: bool = False):
        """The curve as a long pandas DataFrame, one row per observable and recorded point:
        columns `observable, step, t, value` (theory) or `observable, step, t, mean, stderr`
        (simulation; with `seeds=True`, `observable, seed, step, t, value`, every seed).
        The risk is the observable "risk". Needs pandas: `pip install 'hild[pandas]'`."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Curve.to_pandas needs pandas: pip install 'hild[pandas]'") from None
        return pd.DataFrame(self.long_columns(seeds))

    def long_columns(self, seeds: bool = False) -> dict[str, np.ndarray]:
        """The columns of the long layout of `to_pandas` and of the saved CSV, as arrays."""
        if seeds and not self.is_simulation:
            raise ValueError("seeds=True needs a simulated curve (a theory curve has no seeds)")
        names = ["risk", *self.observables]
        step = np.asarray(self.step).astype(np.int64)
        t = np.asarray(self.t, dtype=np.float64)
        points = step.shape[0]
        if seeds:
            n = self.seeds
            return {"observable": np.repeat(names, n * points),
                    "seed": np.tile(np.repeat(np.arange(n), points), len(names)),
                    "step": np.tile(step, n * len(names)), "t": np.tile(t, n * len(names)),
                    "value": np.concatenate([self.values(name).reshape(-1) for name in names])}
        columns = {"observable": np.repeat(names, points), "step": np.tile(step, len(names)),
                   "t": np.tile(t, len(names))}
        if self.is_simulation:
            columns["mean"] = np.concatenate([self.mean(name) for name in names])
            columns["stderr"] = np.concatenate([self.stderr(name) for name in names])
        else:
            columns["value"] = np.concatenate([self.values(name) for name in names])
        return columns

    # ------------------------------------------------------------------ I/O

    def save(self, path: str | os.PathLike) -> list[Path]:
        """Write `<path>.csv` in the long layout of `to_pandas` (per observable and point:
        the theory value, or the seed mean and standard error), for a simulation also
        `<path>.seeds.csv` (every seed, `to_pandas(seeds=True)`), `<path>.json` (everything
        else) and, when the curve has a state, `<path>.state.npz`. Each file is written
        atomically.

        Returns the paths written.
        """
        stem = _stem(path)
        written = [atomic_write_text(_sibling(stem, ".csv"), _csv_text(self.long_columns()))]
        if self.is_simulation:
            written.append(atomic_write_text(_sibling(stem, SEEDS_CSV),
                                             _csv_text(self.long_columns(seeds=True))))
        diverged_t = None if self.diverged_t is None else \
            [None if not np.isfinite(x) else float(x) for x in np.atleast_1d(np.asarray(self.diverged_t))]
        sidecar = {
            "family": type(self.problem).family,
            "problem": self.problem.to_config(),
            "optimizer": self.optimizer.to_config(),
            "diverged": np.asarray(self.diverged).tolist(),
            "diverged_step": np.asarray(self.diverged_step).tolist(),
            "diverged_t": diverged_t if self.is_simulation or diverged_t is None else diverged_t[0],
            "observables": list(self.observables),
            "metadata": self.metadata,
        }
        if self.state is not None:
            state_type = type(self.state)
            sidecar["state_type"] = f"{state_type.__module__}.{state_type.__qualname__}"
            arrays = {f.name: np.asarray(getattr(self.state, f.name))
                      for f in dataclasses.fields(self.state)}
            npz = _sibling(stem, ".state.npz")
            written.append(atomic_write(npz, lambda f: np.savez(f, **arrays), binary=True))
        written.append(atomic_write_text(_sibling(stem, ".json"),
                                         json.dumps(sidecar, indent=2, default=_json_default)))
        return written

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Curve":
        """Read a curve written by `save` (give the stem or any of its files)."""
        stem = _stem(path)
        with open(_sibling(stem, ".json")) as f:
            sidecar = json.load(f)
        simulation = isinstance(sidecar["diverged"], list)
        with open(_sibling(stem, ".csv"), newline="") as f:
            wide = next(csv.reader(f))[0] == "step"  # the layout of hild <= 0.2
        if wide:
            step, t, read = _read_wide(_sibling(stem, ".csv"), simulation)
        else:
            step, t, read = _read_long(_sibling(stem, SEEDS_CSV if simulation else ".csv"),
                                       simulation)
        problem = problem_class(sidecar["family"]).from_config(Table(sidecar["problem"], "problem"))
        optimizer = optimizer_from_config(Table(sidecar["optimizer"], "optimizer"))
        state = None
        if "state_type" in sidecar:
            module, _, name = sidecar["state_type"].rpartition(".")
            state_cls = getattr(importlib.import_module(module), name)
            with np.load(_sibling(stem, ".state.npz")) as data:
                state = state_cls(**{k: jnp.asarray(data[k]) for k in data.files})
        raw_t = sidecar.get("diverged_t")
        diverged_t = None if raw_t is None and "diverged_t" not in sidecar else \
            jnp.asarray(np.where(np.equal(np.asarray(raw_t, dtype=object), None), np.inf,
                                 np.asarray(raw_t, dtype=object)).astype(np.float64))
        return cls(step=step, t=t, risk=read("risk"), state=state,
                   diverged=jnp.asarray(sidecar["diverged"]),
                   diverged_step=jnp.asarray(sidecar["diverged_step"]),
                   problem=problem, optimizer=optimizer, metadata=sidecar["metadata"],
                   observables={n: read(n) for n in sidecar.get("observables", [])},
                   diverged_t=diverged_t)


SEEDS_CSV = ".seeds.csv"


def _csv_text(columns: dict[str, np.ndarray]) -> str:
    """CSV of equal-length columns: integers and names as they are, floats exactly (repr)."""
    cells = [[str(v) for v in col.tolist()] if col.dtype.kind in "iuUO" else
             [repr(float(v)) for v in col.tolist()] for col in columns.values()]
    lines = [",".join(columns)] + [",".join(row) for row in zip(*cells)]
    return "\n".join(lines) + "\n"


def _read_long(path: Path, simulation: bool):
    """(step, t, read(name)) from a long-layout CSV (`Curve.long_columns`): rows by
    observable, then (per-seed file) by seed, then by point."""
    with open(path, newline="") as f:
        rows: dict[str, list[dict]] = {}
        for row in csv.DictReader(f):
            rows.setdefault(row["observable"], []).append(row)
    risk = rows["risk"]
    points = sum(row["seed"] == "0" for row in risk) if simulation else len(risk)
    step = jnp.asarray(np.array([int(row["step"]) for row in risk[:points]], dtype=np.int64))
    t = jnp.asarray(np.array([float(row["t"]) for row in risk[:points]]))

    def read(name):
        values = np.array([float(row["value"]) for row in rows[name]])
        return jnp.asarray(values.reshape(-1, points) if simulation else values)

    return step, t, read


def _read_wide(path: Path, simulation: bool):
    """(step, t, read(name)) from the wide CSV of hild <= 0.2 (`<name>` or `<name>_seed<i>`
    columns)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], np.array(rows[1:], dtype=np.float64)
    col = {name: i for i, name in enumerate(header)}

    def read(name):
        if not simulation:
            return jnp.asarray(body[:, col[name]])
        return jnp.asarray(body[:, [i for c, i in col.items() if c.startswith(f"{name}_seed")]].T)

    return jnp.asarray(body[:, col["step"]].astype(np.int64)), jnp.asarray(body[:, col["t"]]), read


def _stem(path) -> Path:
    path = Path(path)
    for suffix in (".state.npz", SEEDS_CSV, ".csv", ".json"):
        if path.name.endswith(suffix):
            return path.with_name(path.name[: -len(suffix)])
    return path


def _sibling(stem: Path, suffix: str) -> Path:
    return stem.with_name(stem.name + suffix)


def _json_default(x):
    if isinstance(x, (np.generic, np.ndarray)):
        return np.asarray(x).tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")
