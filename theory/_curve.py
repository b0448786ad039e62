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

from ._config import Table
from ._io import atomic_write, atomic_write_text
from ._problem import AbstractProblem, problem_class
from .optim import AbstractOptimizer, optimizer_from_config


class Curve(eqx.Module):
    """A learning curve: risk (and order parameters) at recorded times.

    **Fields:**

    - `step`: optimizer iterations at the recorded points, shape `(T,)`.
    - `t`: time in samples/d at those points, shape `(T,)` (the axis every family shares).
    - `risk`: `0.5 E[(f - f*)^2]` on clean targets; shape `(T,)` for theory,
      `(seeds, T)` for simulation. `inf` after divergence.
    - `state`: the family's order parameters over time (leading axes as `risk`), or None.
    - `diverged`: whether the run diverged (shape `()` for theory, `(seeds,)` for simulation).
    - `diverged_step`: the iteration where it did, -1 if it did not.
    - `problem`, `optimizer`: what was run.
    - `metadata`: plain values (family, method, d, seeds, dtype, versions).
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

    @property
    def is_simulation(self) -> bool:
        return self.risk.ndim == 2

    @property
    def seeds(self) -> int:
        return self.risk.shape[0] if self.is_simulation else 0

    def mean(self) -> np.ndarray:
        """Risk averaged over seeds (the risk itself for theory)."""
        risk = np.asarray(self.risk, dtype=np.float64)
        return risk.mean(axis=0) if self.is_simulation else risk

    def stderr(self) -> np.ndarray:
        """Standard error of the seed mean (zeros for theory)."""
        risk = np.asarray(self.risk, dtype=np.float64)
        if not self.is_simulation:
            return np.zeros_like(risk)
        finite = np.all(np.isfinite(risk), axis=0)
        with np.errstate(invalid="ignore"):
            se = risk.std(axis=0, ddof=1) / np.sqrt(risk.shape[0])
        return np.where(finite, se, np.inf)  # a diverged seed makes the mean infinite

    # ------------------------------------------------------------------ I/O

    def save(self, path: str | os.PathLike) -> list[Path]:
        """Write `<path>.csv` (step, t, risk per seed), `<path>.json` (everything else) and,
        when the curve has a state, `<path>.state.npz`. Each file is written atomically.

        Returns the paths written.
        """
        stem = _stem(path)
        step = np.asarray(self.step)
        t = np.asarray(self.t, dtype=np.float64)
        risk = np.asarray(self.risk, dtype=np.float64)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        if self.is_simulation:
            mean, stderr = self.mean(), self.stderr()
            writer.writerow(["step", "t", "risk_mean", "risk_stderr"]
                            + [f"risk_seed{i}" for i in range(risk.shape[0])])
            for j in range(step.shape[0]):
                writer.writerow([int(step[j]), _fmt(t[j]), _fmt(mean[j]), _fmt(stderr[j])]
                                + [_fmt(r) for r in risk[:, j]])
        else:
            writer.writerow(["step", "t", "risk"])
            for j in range(step.shape[0]):
                writer.writerow([int(step[j]), _fmt(t[j]), _fmt(risk[j])])
        written = [atomic_write_text(_sibling(stem, ".csv"), buf.getvalue())]
        sidecar = {
            "family": type(self.problem).family,
            "problem": self.problem.to_config(),
            "optimizer": self.optimizer.to_config(),
            "diverged": np.asarray(self.diverged).tolist(),
            "diverged_step": np.asarray(self.diverged_step).tolist(),
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
        seed_cols = [i for name, i in col.items() if name.startswith("risk_seed")]
        risk = jnp.asarray(body[:, seed_cols].T if seed_cols else body[:, col["risk"]])
        problem = problem_class(sidecar["family"]).from_config(Table(sidecar["problem"], "problem"))
        optimizer = optimizer_from_config(Table(sidecar["optimizer"], "optimizer"))
        state = None
        if "state_type" in sidecar:
            module, _, name = sidecar["state_type"].rpartition(".")
            state_cls = getattr(importlib.import_module(module), name)
            with np.load(_sibling(stem, ".state.npz")) as data:
                state = state_cls(**{k: jnp.asarray(data[k]) for k in data.files})
        return cls(step=step, t=t, risk=risk, state=state,
                   diverged=jnp.asarray(sidecar["diverged"]),
                   diverged_step=jnp.asarray(sidecar["diverged_step"]),
                   problem=problem, optimizer=optimizer, metadata=sidecar["metadata"])


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
