"""`Curve`: a learning curve from theory or simulation, as a pytree that saves to CSV + JSON."""

from __future__ import annotations

import csv
import dataclasses
import importlib
import io
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

    # ------------------------------------------------------------------ I/O

    def save(self, path: str | os.PathLike) -> list[Path]:
        """Write `<path>.csv` (step, t, and per name: the theory value, or the mean, standard
        error and every seed), `<path>.json` (everything else) and, when the curve has a
        state, `<path>.state.npz`. Each file is written atomically.

        Returns the paths written.
        """
        stem = _stem(path)
        step = np.asarray(self.step)
        t = np.asarray(self.t, dtype=np.float64)
        names = ["risk", *self.observables]
        columns: list[tuple[str, np.ndarray]] = []
        if self.is_simulation:
            for name in names:
                columns += [(f"{name}_mean", self.mean(name)), (f"{name}_stderr", self.stderr(name))]
            for name in names:
                values = self.values(name)
                columns += [(f"{name}_seed{i}", values[i]) for i in range(values.shape[0])]
        else:
            columns = [(name, self.values(name)) for name in names]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["step", "t"] + [c for c, _ in columns])
        for j in range(step.shape[0]):
            writer.writerow([int(step[j]), _fmt(t[j])] + [_fmt(v[j]) for _, v in columns])
        written = [atomic_write_text(_sibling(stem, ".csv"), buf.getvalue())]
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
        with open(_sibling(stem, ".csv"), newline="") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], np.array(rows[1:], dtype=np.float64)
        col = {name: i for i, name in enumerate(header)}
        step = jnp.asarray(body[:, col["step"]].astype(np.int64))
        t = jnp.asarray(body[:, col["t"]])
        simulation = "risk_mean" in col

        def read(name):
            if simulation:
                seeds = [i for c, i in col.items() if c.startswith(f"{name}_seed")]
                return jnp.asarray(body[:, seeds].T)
            return jnp.asarray(body[:, col[name]])

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


def _stem(path) -> Path:
    path = Path(path)
    for suffix in (".state.npz", ".csv", ".json"):
        if path.name.endswith(suffix):
            return path.with_name(path.name[: -len(suffix)])
    return path


def _sibling(stem: Path, suffix: str) -> Path:
    return stem.with_name(stem.name + suffix)


def _fmt(x: float) -> str:
    return repr(float(x))


def _json_default(x):
    if isinstance(x, (np.generic, np.ndarray)):
        return np.asarray(x).tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")
