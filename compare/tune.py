"""Hyperparameters from theory: grid/random search in one vmapped `predict`, or gradients
through `predict` with optax — no training.

Hyperparameters are named by dotted paths into the optimizer: `lr`, `batch`, `momentum`,
the fields of a schedule (`lr.init`, `lr.final`, `lr.values`, ...), a group's rate
(`group_lr.second_layer`) or the fields of any other optimizer (`step`, `batch_fraction`).
Every candidate runs to the same sample budget `t` (samples/d), so batch sizes compare at
equal cost.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any
from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from hild import simulate
from hild import theory as th
from hild.theory import AbstractOptimizer, AbstractProblem, Curve
from hild.theory.devices import over_devices

OBJECTIVES = ("final", "samples_to_target", "auc")
ENGINES = ("grid", "random", "gradient")


# ------------------------------------------------------------------ objectives


def check_objective(objective: str, target: float | None) -> None:
    """Refuse an unknown objective, or `samples_to_target` without a finite target > 0."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)} (got {objective!r})")
    if objective == "samples_to_target" and not (isinstance(target, (int, float))
                                                  and np.isfinite(target) and target > 0):
        raise ValueError(f"target must be a number > 0 for samples_to_target (got {target!r})")


def objective_value(curve: Curve, objective: str, target: float | None = None) -> jax.Array:
    """A scalar summary of a theory curve (smaller is better; `inf` when it diverged).

    - "final": the risk at the end of the budget.
    - "auc": the time-average of the risk over [0, budget] (trapezoid rule).
    - "samples_to_target": the first recorded t (samples/d) at which the risk is at or
      below `target` (record densely: the answer is resolved to the record spacing);
      `inf` if it never gets there.
    """
    return _objective_and_tiebreak(curve, objective, target)[0]


def _objective_and_tiebreak(curve: Curve, objective: str, target: float | None):
    """The objective and the risk where it is taken (ties of samples_to_target go to the
    lower risk there)."""
    check_objective(objective, target)
    risk, t = curve.risk, curve.t
    if objective == "final":
        return risk[-1], risk[-1]
    if objective == "auc":
        finite = jnp.all(jnp.isfinite(risk))
        safe = jnp.where(jnp.isfinite(risk), risk, 0.0)
        area = jnp.sum(0.5 * (safe[1:] + safe[:-1]) * jnp.diff(t)) / (t[-1] - t[0])
        area = jnp.where(finite, area, jnp.inf)
        return area, area
    below = risk <= target  # samples_to_target: the first recorded point at or below it
    hit = jnp.argmax(below)
    return (jnp.where(jnp.any(below), t[hit], jnp.inf),
            jnp.where(jnp.any(below), risk[hit], jnp.inf))


# ------------------------------------------------------------------ paths


def _children(obj) -> dict:
    if isinstance(obj, dict):
        return obj
    if dataclasses.is_dataclass(obj):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return {}


def get_path(optimizer: AbstractOptimizer, path: str):
    """The value at a dotted path (fields, or keys of a table such as `group_lr`), with a
    ValueError that lists the fields if it is absent."""
    obj = optimizer
    for name in path.split("."):
        children = _children(obj)
        if name not in children:
            raise ValueError(f"tune: {path!r} is not a hyperparameter of {type(optimizer).__name__} "
                             f"(fields here: {', '.join(children) or 'none'})")
        obj = children[name]
    return obj


def with_values(optimizer: AbstractOptimizer, values: Mapping[str, jax.Array]) -> AbstractOptimizer:
    """`optimizer` with the hyperparameters at the given paths replaced (traceable)."""
    paths = list(values)
    if not paths:
        return optimizer
    return eqx.tree_at(lambda o: [get_path(o, p) for p in paths], optimizer,
                       [jnp.asarray(values[p], dtype=float) for p in paths],
                       is_leaf=lambda x: x is None)


def _revalidate(obj) -> None:
    """Run the `__check_init__` checks of every module in `obj` (`eqx.tree_at` skips them)."""
    if isinstance(obj, eqx.Module):
        for cls in type(obj).__mro__:
            if "__check_init__" in cls.__dict__:
                cls.__dict__["__check_init__"](obj)
    for child in _children(obj).values():
        if isinstance(child, (dict, eqx.Module)):
            _revalidate(child)


def check_candidates(optimizer: AbstractOptimizer, space: Mapping[str, Any]) -> None:
    """Check every candidate value of a search space (a grid axis, or a range's ends) as
    the optimizer would check it, before anything runs: a ValueError names the path."""
    for path, values in space.items():
        ends = values[:2] if isinstance(values, tuple) else values
        for value in np.asarray(ends, dtype=np.float64).ravel():
            try:
                _revalidate(with_values(optimizer, {path: value}))
            except ValueError as err:
                raise ValueError(f"{path} = {value:g} is not allowed: {err}") from None


# ------------------------------------------------------------------ candidates


def grid(**axes) -> dict[str, np.ndarray]:
    """The Cartesian product of per-path values, as one flat column per path.

    `grid(lr=np.geomspace(0.05, 2, 40), batch=[1, 4, 16])` gives 120 candidates. Use
    `**{"lr.final": [...]}` for dotted paths.
    """
    names = list(axes)
    columns = [np.atleast_1d(np.asarray(axes[n], dtype=np.float64)) for n in names]
    for name, col in zip(names, columns):
        if col.ndim != 1 or col.size == 0 or not np.all(np.isfinite(col)):
            raise ValueError(f"tune grid {name!r} must be a non-empty list of finite numbers")
    rows = np.array(list(itertools.product(*columns)), dtype=np.float64).reshape(-1, len(names))
    return {n: rows[:, i] for i, n in enumerate(names)}


def random_candidates(key, num: int, **ranges) -> dict[str, np.ndarray]:
    """`num` random candidates; each range is `(low, high)` (uniform) or `(low, high, "log")`."""
    out = {}
    for name, spec in ranges.items():
        key, sub = jax.random.split(key)
        low, high, *scale = spec
        if not (np.isfinite(low) and np.isfinite(high) and high > low):
            raise ValueError(f"tune range {name!r} must have finite low < high (got {spec!r})")
        u = np.asarray(jax.random.uniform(sub, (num,), dtype=jnp.float64 if jax.config.jax_enable_x64
                                          else jnp.float32))
        if scale == ["log"]:
            if low <= 0:
                raise ValueError(f"tune range {name!r}: a log range needs low > 0 (got {low})")
            out[name] = np.exp(np.log(low) + u * (np.log(high) - np.log(low)))
        else:
            out[name] = low + u * (high - low)
    return out


# ------------------------------------------------------------------ evaluation


def evaluate(problem: AbstractProblem, optimizer: AbstractOptimizer,
             candidates: Mapping[str, np.ndarray], budget: float, *, objective: str = "final",
             target: float | None = None, num_points: int = 100, chunk: int | None = None,
             **options) -> np.ndarray:
    """The objective of every candidate, from ONE jitted, vmapped `predict` call.
    (`evaluate_with_tiebreak` also returns the risk where each objective is taken.)

    Fields that set the number of iterations of a horizon in t (the optimizer's
    `iteration_fields`, e.g. `ProxLinear.batch_fraction`) cannot be traced: candidates are
    grouped by their values, one vmapped call per group. `chunk` runs the vmap over blocks
    of that many candidates in sequence (`lax.map`), which keeps large per-candidate states
    (least squares at large d) in cache: about 2x faster at d = 1000 on a CPU.
    """
    return evaluate_with_tiebreak(problem, optimizer, candidates, budget, objective=objective,
                                  target=target, num_points=num_points, chunk=chunk, **options)[0]


def evaluate_with_tiebreak(problem, optimizer, candidates, budget, *, objective="final",
                           target=None, num_points=100, chunk=None, **options):
    """(objective, risk where it is taken) of every candidate; see `evaluate`."""
    for path in candidates:
        get_path(optimizer, path)
    check_objective(objective, target)
    columns = {p: np.asarray(v, dtype=np.float64) for p, v in candidates.items()}
    total = len(next(iter(columns.values())))
    fixed = [p for p in type(optimizer).iteration_fields if p in columns]
    free = [p for p in columns if p not in fixed]
    keys = np.stack([columns[p] for p in fixed], axis=1) if fixed else np.zeros((total, 0))
    out = np.empty((2, total))
    for value in np.unique(keys, axis=0):  # a single group unless iteration fields vary
        idx = np.flatnonzero(np.all(keys == value, axis=1))
        base = with_values(optimizer, dict(zip(fixed, value)))
        rows = {p: jnp.asarray(columns[p][idx]) for p in free}
        out[:, idx] = _evaluate_block(problem, base, rows, idx.size, budget, objective, target,
                                      num_points, chunk, options)
    return out[0], out[1]


def _evaluate_block(problem, optimizer, rows, size, budget, objective, target, num_points,
                    chunk, options) -> np.ndarray:
    def one(row):
        curve = th.predict(problem, with_values(optimizer, row), t=budget,
                           num_points=num_points, save_state=False, **options)
        return jnp.stack(_objective_and_tiebreak(curve, objective, target))

    if not rows:
        return np.repeat(np.asarray(one({}))[:, None], size, axis=1)
    # scale-out (theory/_devices.py): candidates over the devices, in blocks of `chunk`
    block = chunk if chunk is not None and chunk < size else None
    return np.asarray(over_devices(jax.jit(jax.vmap(one)), (rows,), block=block)).T


@dataclasses.dataclass(frozen=True)
class TuneResult:
    """What was tried and what was chosen.

    Grid/random: `candidates` (path -> values) and their objective `values`. Gradient:
    no candidates; `values` is the objective at each iteration. `best` is the chosen
    optimizer, ready for `predict` and `simulate`.
    """

    candidates: dict[str, np.ndarray]
    values: np.ndarray
    best: AbstractOptimizer
    best_value: float
    objective: str
    budget: float
    engine: str
    target: float | None = None
    tiebreak: np.ndarray | None = None
    """Grid/random: the risk where each objective is taken (ties go to the lower one)."""

    def ranking(self) -> np.ndarray:
        """Candidate indices, best first (ties: lower risk first; diverged ones last)."""
        values = np.where(np.isfinite(self.values), self.values, np.inf)
        if self.tiebreak is None:
            return np.argsort(values, kind="stable")
        return np.lexsort((np.where(np.isfinite(self.tiebreak), self.tiebreak, np.inf), values))

    def table(self) -> tuple[list[str], list[list[float]]]:
        """(header, rows): candidates best first, or the gradient iterations in order."""
        if not self.candidates:
            return ["iteration", self.objective], [[i, float(v)] for i, v in enumerate(self.values)]
        names = list(self.candidates)
        rows = [[float(self.candidates[n][i]) for n in names] + [float(self.values[i]), rank]
                for rank, i in enumerate(self.ranking(), start=1)]
        return names + [self.objective, "rank"], rows


def tune(problem: AbstractProblem, optimizer: AbstractOptimizer, space: Mapping, budget: float, *,
         objective: str = "final", target: float | None = None, engine: str = "grid",
         num_points: int = 100, key=None, num_random: int = 256, iterations: int = 200,
         learning_rate: float = 0.05, chunk: int | None = None,
         progress: Callable[[int, int], None] | None = None, **options) -> TuneResult:
    """Choose hyperparameters of `optimizer` on `problem` from theory alone.

    **Arguments:**

    - `problem`, `optimizer`: the run to tune; `optimizer` holds the starting / fixed values.
    - `space`: engine "grid": path -> list of values (all combinations);
      engine "random": path -> `(low, high)` or `(low, high, "log")`, `num_random` draws
      with `key`; engine "gradient": a list of paths to optimise (positive ones in log
      scale, `momentum` in logit scale) starting from `optimizer`'s values.
    - `budget`: samples/d every candidate may use.
    - `objective`: "final" (risk at the budget), "samples_to_target" (t to reach
      `target`; grid/random only), "auc" (time-averaged risk).
    - `chunk`: grid/random candidates per vmapped block (see `evaluate`).

    **Returns:** a `TuneResult`; its `best` optimizer is ready for `predict`/`simulate`.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)} (got {engine!r})")
    options.pop("save_state", None)  # candidates never record their state
    if not (isinstance(budget, (int, float)) and np.isfinite(budget) and budget > 0):
        raise ValueError(f"budget must be a number > 0 (samples/d) (got {budget!r})")
    if engine == "gradient":
        return _gradient(problem, optimizer, list(space), budget, objective, target, num_points,
                         iterations, learning_rate, progress, options)
    if engine == "grid":
        candidates = grid(**space)
    else:
        if key is None:
            raise ValueError("engine 'random' needs a key")
        candidates = random_candidates(jax.random.key(key) if isinstance(key, int) else key,
                                       num_random, **space)
    values, tiebreak = evaluate_with_tiebreak(problem, optimizer, candidates, budget,
                                              objective=objective, target=target,
                                              num_points=num_points, chunk=chunk, **options)
    if not np.isfinite(values).any():
        raise ValueError("tune: every candidate diverged or missed the target; widen the space")
    result = TuneResult(candidates, values, optimizer, np.nan, objective, float(budget), engine,
                        target, tiebreak)
    best = int(result.ranking()[0])
    best_opt = _concrete(with_values(optimizer, {p: c[best] for p, c in candidates.items()}))
    return dataclasses.replace(result, best=best_opt, best_value=float(values[best]))


def _concrete(optimizer: AbstractOptimizer) -> AbstractOptimizer:
    """Rebuild through the constructor so fields are validated and batch is an int again."""
    return th.optimizer_from_config(th.Table(optimizer.to_config(), "optimizer"))


_LOGIT_PATHS = ("momentum",)


def _gradient(problem, optimizer, paths, budget, objective, target, num_points, iterations,
              learning_rate, progress, options) -> TuneResult:
    if objective == "samples_to_target":
        raise ValueError("objective 'samples_to_target' is piecewise constant in the "
                         "hyperparameters; use engine 'grid' or 'random'")
    if not paths:
        raise ValueError("engine 'gradient' needs at least one hyperparameter path")
    start = {}
    for p in paths:
        value = jnp.asarray(get_path(optimizer, p), dtype=float)
        if p.split(".")[-1] in _LOGIT_PATHS:
            start[p] = jnp.log(value) - jnp.log1p(-value)
        else:
            if jnp.any(value <= 0):
                raise ValueError(f"tune: {p} must start > 0 for log-scale optimisation")
            start[p] = jnp.log(value)

    def unpack(params):
        return {p: (jax.nn.sigmoid(v) if p.split(".")[-1] in _LOGIT_PATHS else jnp.exp(v))
                for p, v in params.items()}

    @jax.jit
    def loss_and_grad(params):
        def loss(params):
            curve = th.predict(problem, with_values(optimizer, unpack(params)), t=budget,
                               num_points=num_points, save_state=False, **options)
            return jnp.log(objective_value(curve, objective, target))

        return jax.value_and_grad(loss)(params)

    solver = optax.adam(learning_rate)
    params, state = start, solver.init(start)
    best_params, best_loss, history = start, np.inf, []
    step_scale = 1.0
    for i in range(iterations):
        value, grads = loss_and_grad(params)
        value = float(value)
        history.append(np.exp(value))
        if not np.isfinite(value) or any(not np.all(np.isfinite(g)) for g in jax.tree.leaves(grads)):
            # diverged: go back to the best point with smaller steps
            params, step_scale = best_params, step_scale * 0.5
            state = solver.init(params)
            continue
        if value < best_loss:
            best_params, best_loss = params, value
        updates, state = solver.update(grads, state, params)
        params = optax.apply_updates(params, jax.tree.map(lambda u: step_scale * u, updates))
        if progress is not None:
            progress(i + 1, iterations)
    if not np.isfinite(best_loss):
        raise ValueError("tune: the starting point diverged; start from a smaller learning rate")
    best_opt = _concrete(with_values(optimizer, unpack(best_params)))
    return TuneResult({}, np.asarray(history), best_opt, float(np.exp(best_loss)), objective,
                      float(budget), "gradient", target)


@dataclasses.dataclass(frozen=True)
class Validation:
    """The theory-chosen optimizer re-run in simulation next to a simulated grid search.

    All runs share one key (common random numbers), so their differences are measured
    more precisely than their levels. `rank` is 1 + the number of grid points whose
    simulated risk is lower than the choice's; `ratio` = choice / best grid point.
    """

    chosen_risk: float
    chosen_se: float
    grid_risks: np.ndarray
    grid_se: np.ndarray
    rank: int
    ratio: float

    def to_dict(self) -> dict:
        """The validation as JSON-ready numbers (chosen and grid risks ± SE, rank, ratio)."""
        return {"chosen_risk": self.chosen_risk, "chosen_se": self.chosen_se,
                "grid_risks": self.grid_risks.tolist(), "grid_se": self.grid_se.tolist(),
                "rank": self.rank, "grid_points": int(self.grid_risks.size), "ratio": self.ratio}


def final_risk_in_simulation(problem, optimizer, budget: float, *, seeds: int, key,
                             **options) -> tuple[float, float]:
    """Mean and standard error over seeds of the simulated risk at t = budget."""
    sim = simulate.simulate(problem, optimizer, t=budget, num_points=2, seeds=seeds, key=key,
                            **options)
    return float(sim.mean()[-1]), float(sim.stderr()[-1])


def validate(problem: AbstractProblem, chosen: AbstractOptimizer, grid_optimizers, budget: float,
             *, seeds: int, key, **options) -> Validation:
    """Simulate `chosen` and each of `grid_optimizers` to t = budget and rank the choice."""
    chosen_risk, chosen_se = final_risk_in_simulation(problem, chosen, budget, seeds=seeds,
                                                      key=key, **options)
    runs = [final_risk_in_simulation(problem, opt, budget, seeds=seeds, key=key, **options)
            for opt in grid_optimizers]
    risks = np.array([r[0] for r in runs])
    ses = np.array([r[1] for r in runs])
    finite = np.where(np.isfinite(risks), risks, np.inf)
    rank = 1 + int(np.sum(finite < chosen_risk))
    return Validation(chosen_risk, chosen_se, risks, ses, rank, chosen_risk / float(np.min(finite)))


@dataclasses.dataclass(frozen=True)
class CriticalBatch:
    """Samples and steps to reach a target risk against the batch size, the rate tuned per
    batch from theory. `knee` = d · E_min / S_min, the critical batch of McCandlish, Kaplan,
    Amodei et al., "An empirical model of large-batch training" (arXiv 1812.06162): below
    it, doubling B halves the steps at nearly equal samples (perfect scaling); above it,
    it buys few steps for many more samples (diminishing returns)."""

    batches: np.ndarray
    samples: np.ndarray
    """t = samples/d to reach the target (inf where no rate reaches it)."""
    steps: np.ndarray
    lrs: np.ndarray
    """The best rate at each batch."""
    knee: float
    target: float


def critical_batch(problem: AbstractProblem, optimizer: AbstractOptimizer, batches, lrs,
                   target: float, budget, *, num_points: int = 400, rate: str = "lr",
                   **options) -> CriticalBatch:
    """For each batch in `batches`, the fewest samples (t = samples/d) to reach risk
    `target` within `budget` (a number, or one per batch) over the rates `lrs` (one vmapped
    `predict` per batch, log spacing of `num_points`), its steps, and the knee (see
    `CriticalBatch`)."""
    batches = [int(b) for b in batches]
    budgets = np.broadcast_to(np.asarray(budget, dtype=float), (len(batches),))
    samples, steps, best = [], [], []
    for batch, budget in zip(batches, budgets):
        base = _concrete(with_values(optimizer, {"batch": batch}))
        values, _ = evaluate_with_tiebreak(problem, base, {rate: np.asarray(lrs)}, float(budget),
                                           objective="samples_to_target", target=target,
                                           num_points=num_points, spacing="log", **options)
        i = int(np.argmin(values))
        clock = problem.clock(base)
        samples.append(float(values[i]))
        steps.append(clock.steps_for(values[i]) if np.isfinite(values[i]) else np.inf)
        best.append(float(np.asarray(lrs)[i]))
    samples, steps = np.asarray(samples), np.asarray(steps, dtype=float)
    if not np.isfinite(samples).any():
        raise ValueError("critical_batch: no batch reaches the target; raise the budget")
    d = problem.clock(optimizer).d
    knee = d * float(np.nanmin(samples)) / float(np.nanmin(steps))
    return CriticalBatch(np.asarray(batches), samples, steps, np.asarray(best), knee, float(target))
