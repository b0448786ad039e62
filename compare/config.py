"""TOML run configs: one file states the problem, the optimizer, the horizon and the runs.

Every field is validated before anything runs or is written; an error names the field and
its allowed range. Each family ships an embedded default (`compare/defaults/<family>.toml`,
`hild.compare.examples`), which documents every field in its comments. `family` is a
family's name (hild's own, an installed plugin's) or `"package.module:Class"` /
`"file.py:Class"` (relative to the config's folder) for a family from outside hild; so is
`[optimizer] kind`.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from hild import simulate, theory
from hild.theory import AbstractOptimizer, AbstractProblem, ConfigError, Table, ode_settings

from . import frontier
from .examples import DEFAULT_FAMILY, default_text
from .tune import ENGINES, OBJECTIVES, check_candidates, check_objective, get_path


@dataclasses.dataclass(frozen=True)
class Job:
    """A parsed, validated config."""

    family: str
    problem: AbstractProblem
    optimizer: AbstractOptimizer
    horizon: dict[str, Any]
    theory: dict[str, Any]
    simulation: dict[str, Any]
    plot: dict[str, Any]
    source: str
    tune: dict[str, Any] | None = None
    raw: dict = dataclasses.field(default_factory=dict)
    text: str = ""  # the config as written (copied to the output folder)
    scaling: dict[str, Any] | None = None
    """The [scaling] table of `hild scaling` (compare.frontier), or None."""
    reference_methods: tuple[str, ...] = ()
    """Further theory methods drawn and compared next to `theory["method"]` (a [theory]
    `method` list: the first is the main curve)."""


def load(path: str | Path | None, family: str = DEFAULT_FAMILY) -> Job:
    """Read and validate a config file, or the embedded default of `family` when `path` is None."""
    if path is None:
        text, source, base = default_text(family), f"embedded default ({family})", None
    else:
        try:
            text, source, base = Path(path).read_text(), str(path), Path(path).parent
        except OSError as err:
            raise ConfigError(f"config: cannot read {path}: {err.strerror}") from None
    return loads(text, source, base)


def loads(text: str, source: str = "<string>", base: str | Path | None = None) -> Job:
    """Parse and validate the text of a config (`base`: the folder a `"file.py:Class"`
    family or optimizer kind is relative to)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config: not valid TOML ({err})") from None
    return dataclasses.replace(parse(data, source, base), text=text)


def _reject_non_finite(value, path: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{path}: must be finite (got {value})")
    if isinstance(value, dict):
        for k, v in value.items():
            _reject_non_finite(v, f"{path}.{k}" if path else k)
    if isinstance(value, list):
        for i, v in enumerate(value):
            _reject_non_finite(v, f"{path}[{i}]")


def _build(what: str, build):
    try:
        return build()
    except ConfigError:
        raise
    except ValueError as err:
        raise ConfigError(f"{what}: {err}") from None


def _options(table: Table | None, allowed: list[str]) -> dict[str, Any]:
    if table is None:
        return {}
    out = {key: table.raw(key) for key in allowed if table.has(key)}
    table.finish()
    return out


def theory_option_names(problem_cls: type[AbstractProblem]) -> list[str]:
    """The [theory] fields a family takes: `predict`'s options that a TOML value can set."""
    names = ["init", "save_state"]
    if len(problem_cls.methods) > 1:
        names.append("method")
    if "ode" in problem_cls.methods.values():
        names += ["rtol", "atol", "max_steps"]
    return names + list(problem_cls.theory_options)


def check_ode_options(problem_cls: type[AbstractProblem], opts: dict) -> None:
    """[theory] method, rtol, atol, max_steps as `theory.predict` will check them."""
    method = theory.method_of(problem_cls, opts.get("method"))
    ode_settings(problem_cls, method, None, None, opts.get("rtol"), opts.get("atol"),
                 opts.get("max_steps"))


def family_class(family: str, base=None) -> type[AbstractProblem]:
    """The problem class a config's `family` names, or a ConfigError naming what there is."""
    if not theory.registry.is_spec(family) and family not in theory.family_names():
        raise ConfigError(f"family: must be one of {', '.join(theory.family_names())}, or "
                          f"'package.module:Class' for a family from outside hild (got {family!r})")
    try:
        return theory.problem_class(family, base)
    except ValueError as err:
        raise ConfigError(f"family: {err}") from None


def parse(data: dict, source: str = "<dict>", base: str | Path | None = None) -> Job:
    """Validate a parsed TOML document into a `Job` (`base`: see `loads`)."""
    _reject_non_finite(data, "")
    top = Table(data, "")
    family = top.string("family")
    problem_cls = family_class(family, base)
    problem = _build("problem", lambda: problem_cls.from_config(_required(top, "problem")))
    optimizer = _build("optimizer", lambda: theory.optimizer_from_config(_required(top, "optimizer"),
                                                                         base))
    tune = _parse_tune(top.table("tune"), optimizer)
    horizon_table = top.table("horizon")
    if horizon_table is None:
        if tune is None:
            raise ConfigError("horizon: missing required table [horizon]")
        horizon = {"t": tune["budget"], "num_points": tune["num_points"], "spacing": "linear"}
    else:
        horizon = _parse_horizon(horizon_table)
    theory_opts = _options(top.table("theory"), theory_option_names(problem_cls))
    references = _methods(theory_opts, problem_cls)
    _build("theory", lambda: check_ode_options(problem_cls, theory_opts))
    simulation = _parse_simulation(top.table("simulation"))
    plot = _parse_plot(top.table("plot"))
    scaling = _parse_scaling(top.table("scaling"))
    top.finish()
    return Job(family, problem, optimizer, horizon, theory_opts, simulation, plot, source, tune,
               data, scaling=scaling, reference_methods=references)


def _methods(theory_opts: dict[str, Any], problem_cls: type[AbstractProblem]) -> tuple[str, ...]:
    """A [theory] `method` list keeps its first entry as the method; the others are returned."""
    methods = theory_opts.get("method")
    if not isinstance(methods, list):
        return ()
    allowed = tuple(problem_cls.methods)
    if not methods or len(set(map(str, methods))) < len(methods):
        raise ConfigError(f"theory.method: must be one of {', '.join(allowed)}, or a list of "
                          f"distinct ones (got {methods!r})")
    for m in methods:
        try:
            theory.method_of(problem_cls, m)
        except ValueError as err:
            raise ConfigError(f"theory.method: {str(err).removeprefix('method ')}") from None
    theory_opts["method"] = methods[0]
    return tuple(methods[1:])


def _parse_horizon(table: Table) -> dict[str, Any]:
    horizon: dict[str, Any] = {}
    if table.has("steps"):
        horizon["steps"] = table.integer("steps", low=1)
    if table.has("t"):
        horizon["t"] = table.number("t")
    horizon["num_points"] = table.integer("num_points", 200, low=2)
    horizon["spacing"] = table.string("spacing", ("linear", "log"), "linear")
    table.finish()
    _build("horizon", lambda: theory.make_horizon(
        horizon.get("steps"), horizon.get("t"), horizon["num_points"], horizon["spacing"]))
    return horizon


def _parse_simulation(table: Table | None) -> dict[str, Any]:
    simulation: dict[str, Any] = {"seeds": 32, "key": 0, "dtype": "float32"}
    if table is not None:
        simulation["seeds"] = table.integer("seeds", 32, low=2)
        simulation["key"] = table.integer("key", 0, low=0, high=2**32 - 1)
        if table.has("d"):
            simulation["d"] = table.integer("d", low=1, high=2**31 - 1)
        simulation["dtype"] = table.string("dtype", tuple(simulate.DTYPES), "float32")
        if table.has("prng"):
            simulation["prng"] = table.string("prng", simulate.PRNGS)
        if table.has("shard"):  # scale-out: simulate/_sharding.py
            simulation["shard"] = table.string("shard", simulate.SHARDS)
        if table.has("seed_block"):
            simulation["seed_block"] = table.integer("seed_block", low=1, high=2**31 - 1)
        if table.has("save_state"):
            simulation["save_state"] = table.raw("save_state")
            if not isinstance(simulation["save_state"], bool):
                table.fail("save_state", f"expected true or false (got {simulation['save_state']!r})")
        table.finish()
    return simulation


def _parse_scaling(table: Table | None) -> dict[str, Any] | None:
    """[scaling]: model sizes {min, max, per_octave}, compute budgets {min, max, num}, the
    sizes to simulate and the largest simulated budget."""
    if table is None:
        return None
    sizes_t, compute_t = table.table("sizes"), table.table("compute")
    if sizes_t is None or compute_t is None:
        table.fail("sizes" if sizes_t is None else "compute", "missing table (see `hild example`)")
    low = sizes_t.integer("min", low=1, high=2**31 - 1)
    high = sizes_t.integer("max", low=1, high=2**31 - 1)
    per_octave = sizes_t.integer("per_octave", 4, low=1, high=64)
    if high < 4 * low:
        sizes_t.fail("max", f"must be at least 4 × min = {4 * low} to hold a frontier (got {high})")
    sizes_t.finish()
    f_low, f_high = compute_t.number("min"), compute_t.number("max")
    num = compute_t.integer("num", 41, low=3, high=10_000)
    if not 0 < f_low < f_high:
        compute_t.fail("max", f"needs 0 < min < max (got min = {f_low:g}, max = {f_high:g})")
    compute_t.finish()
    sizes = frontier.model_sizes(low, high, per_octave)
    simulated = table.numbers("simulate", [])
    for d in simulated:
        if d not in sizes:
            table.fail("simulate", f"{d:g} is not one of the model sizes "
                                   f"({', '.join(str(int(s)) for s in sizes)})")
    replicas = table.integer("replicas", 1, low=1, high=64)
    sim_max = table.number("simulate_compute_max", f_high)
    if not sim_max > 0:
        table.fail("simulate_compute_max", f"must be > 0 (got {sim_max:g})")
    table.finish()
    return {"sizes": sizes, "compute": np.geomspace(f_low, f_high, num),
            "simulate": [int(d) for d in simulated], "replicas": replicas,
            "simulate_compute_max": sim_max}


def _parse_plot(table: Table | None) -> dict[str, Any]:
    plot = {"logy": True, "logx": False, "max_seeds": 20, "spread": False}
    if table is not None:
        for key in ("logy", "logx", "spread"):
            if table.has(key):
                value = table.raw(key)
                if not isinstance(value, bool):
                    table.fail(key, f"expected true or false (got {value!r})")
                plot[key] = value
        plot["max_seeds"] = table.integer("max_seeds", 20, low=0)
        table.finish()
    return plot


def _parse_tune(table: Table | None, optimizer: AbstractOptimizer) -> dict[str, Any] | None:
    """[tune]: engine, objective, budget, target, num_points, and the engine's own table."""
    if table is None:
        return None
    tune: dict[str, Any] = {
        "engine": table.string("engine", ENGINES, "grid"),
        "objective": table.string("objective", OBJECTIVES, "final"),
        "budget": table.number("budget"),
        "num_points": table.integer("num_points", 100),
    }
    if tune["budget"] <= 0:
        table.fail("budget", f"must be > 0 (samples/d) (got {tune['budget']})")
    if tune["num_points"] < 2:
        table.fail("num_points", f"must be an integer >= 2 (got {tune['num_points']})")
    if table.has("target"):
        tune["target"] = table.number("target")
    _build("tune", lambda: check_objective(tune["objective"], tune.get("target")))
    engine = table.table(tune["engine"])
    if engine is None:
        raise ConfigError(f"tune.{tune['engine']}: missing table [tune.{tune['engine']}]")
    for other in ENGINES:
        if other != tune["engine"] and table.has(other):
            table.fail(other, f"not used by engine {tune['engine']!r}; remove it")
    if tune["engine"] == "grid":
        space = {path: _axis(engine, path) for path in engine.keys()}
    elif tune["engine"] == "random":
        tune["num_random"] = engine.integer("num", 256, low=1, high=10**6)
        tune["key"] = engine.integer("key", 0, low=0, high=2**32 - 1)
        space = {path: _range(engine, path) for path in engine.keys() if path not in ("num", "key")}
    else:
        tune["iterations"] = engine.integer("iterations", 200, low=1)
        tune["learning_rate"] = engine.number("learning_rate", 0.05)
        tune["schedule_pieces"] = engine.integer("schedule_pieces", 0)
        paths = engine.raw("paths", [])
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            engine.fail("paths", f"expected a list of strings (got {paths!r})")
        if tune["schedule_pieces"] < 0 or (tune["schedule_pieces"] == 0 and not paths):
            engine.fail("schedule_pieces", "give schedule_pieces >= 1 or a non-empty paths list")
        space = list(paths)
        if tune["schedule_pieces"]:
            optimizer, path = _build("tune.gradient.schedule_pieces", lambda: optimizer.piecewise_schedule(
                tune["schedule_pieces"], tune["budget"]))
            space = [path] + [p for p in space if p != path]
    engine.finish()
    table.finish()
    if not space:
        raise ConfigError(f"tune.{tune['engine']}: no hyperparameters to tune")
    for path in space:
        _build(f"tune.{tune['engine']}.{path}", lambda p=path: get_path(optimizer, p))
    if isinstance(space, dict):
        _build(f"tune.{tune['engine']}", lambda: check_candidates(optimizer, space))
    tune["space"] = space
    return tune


def _axis(table: Table, path: str):
    value = table.raw(path)
    if isinstance(value, list):
        return table.numbers(path)
    spec = table.table(path)
    low, high = spec.number("min"), spec.number("max")
    num, log = spec.integer("num", low=1, high=10**6), spec.raw("log", False)
    spec.finish()
    if not isinstance(log, bool):
        spec.fail("log", f"expected true or false (got {log!r})")
    if num < 1 or not high > low or (log and low <= 0):
        spec.fail("num", "needs num >= 1, min < max, and min > 0 for a log axis")
    return np.geomspace(low, high, num) if log else np.linspace(low, high, num)


def _range(table: Table, path: str):
    spec = table.table(path)
    low, high, log = spec.number("min"), spec.number("max"), spec.raw("log", False)
    spec.finish()
    if not isinstance(log, bool) or not high > low or (log and low <= 0):
        spec.fail("max", "needs min < max (min > 0 for log = true)")
    return (low, high, "log") if log else (low, high)


def dumps(data: dict) -> str:
    """A small TOML writer for configs: scalars, lists and (inline) tables."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for name, table in data.items():
        if isinstance(table, dict):
            lines += _toml_table(name, table)
    return "\n".join(lines) + "\n"


def _toml_table(name: str, table: dict) -> list[str]:
    lines = ["", f"[{name}]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for key, sub in table.items():
        if isinstance(sub, dict):
            lines += _toml_table(f"{name}.{key}", sub)
    return lines


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _required(top: Table, name: str) -> Table:
    table = top.table(name)
    if table is None:
        raise ConfigError(f"{name}: missing required table [{name}]")
    return table
