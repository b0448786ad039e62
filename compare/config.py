"""TOML run configs: one file states the problem, the optimizer, the horizon and the runs.

Every field is validated before anything runs or is written; an error names the field and
its allowed range. Each family ships an embedded default (`compare/defaults/<family>.toml`),
which documents every field in its comments.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import simulate
import theory
from theory import AbstractOptimizer, AbstractProblem, ConfigError, Table

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


def default_families() -> list[str]:
    """Families with an embedded default config."""
    folder = resources.files("compare") / "defaults"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def default_text(family: str = "linreg") -> str:
    """The embedded default config of a family, with its field documentation."""
    path = resources.files("compare") / "defaults" / f"{family}.toml"
    if not path.is_file():
        raise ConfigError(f"family: no embedded default for {family!r} "
                          f"(have: {', '.join(default_families())})")
    return path.read_text()


def load(path: str | Path | None, family: str = "linreg") -> Job:
    """Read and validate a config file, or the embedded default of `family` when `path` is None."""
    if path is None:
        text, source = default_text(family), f"embedded default ({family})"
    else:
        try:
            text, source = Path(path).read_text(), str(path)
        except OSError as err:
            raise ConfigError(f"config: cannot read {path}: {err.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config: not valid TOML ({err})") from None
    return parse(data, source)


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


def _family_options(registry, problem_type, skip: set[str]) -> list[str]:
    impl = registry.dispatch(problem_type)
    params = inspect.signature(impl).parameters.values()
    return [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name not in skip]


def parse(data: dict, source: str = "<dict>") -> Job:
    """Validate a parsed TOML document into a `Job`."""
    _reject_non_finite(data, "")
    top = Table(data, "")
    family = top.string("family", tuple(theory.families()))
    problem_cls = theory.problem_class(family)
    problem = _build("problem", lambda: problem_cls.from_config(_required(top, "problem")))
    optimizer = _build("optimizer", lambda: theory.optimizer_from_config(_required(top, "optimizer")))

    horizon_table = _required(top, "horizon")
    horizon = {}
    for key in ("steps", "t"):
        if horizon_table.has(key):
            horizon[key] = (horizon_table.integer(key) if key == "steps"
                            else horizon_table.number(key))
    horizon["num_points"] = horizon_table.integer("num_points", 200)
    horizon["spacing"] = horizon_table.string("spacing", ("linear", "log"), "linear")
    horizon_table.finish()
    _build("horizon", lambda: theory.make_horizon(
        horizon.get("steps"), horizon.get("t"), horizon["num_points"], horizon["spacing"]))

    theory_opts = _options(top.table("theory"),
                           _family_options(theory.predict_family, problem_cls, set()))
    sim_table = top.table("simulation")
    simulation: dict[str, Any] = {"seeds": 32, "key": 0, "dtype": "float32"}
    if sim_table is not None:
        simulation["seeds"] = sim_table.integer("seeds", 32)
        simulation["key"] = sim_table.integer("key", 0)
        if sim_table.has("d"):
            simulation["d"] = sim_table.integer("d")
        simulation["dtype"] = sim_table.string("dtype", tuple(simulate.DTYPES), "float32")
        base = {"d", "seeds", "key", "dtype", "progress"}
        for key in _family_options(simulate.simulate_family, problem_cls, base):
            if sim_table.has(key):
                simulation[key] = sim_table.raw(key)
        sim_table.finish()
    if simulation["seeds"] < 2:
        raise ConfigError(f"simulation.seeds: must be an integer >= 2 (got {simulation['seeds']})")
    if "d" in simulation and simulation["d"] < 1:
        raise ConfigError(f"simulation.d: must be an integer >= 1 (got {simulation['d']})")

    plot_table = top.table("plot")
    plot = {"logy": True, "logx": False, "max_seeds": 20}
    if plot_table is not None:
        for key in ("logy", "logx"):
            if plot_table.has(key):
                value = plot_table.raw(key)
                if not isinstance(value, bool):
                    plot_table.fail(key, f"expected true or false (got {value!r})")
                plot[key] = value
        plot["max_seeds"] = plot_table.integer("max_seeds", 20)
        plot_table.finish()
    top.finish()
    return Job(family, problem, optimizer, horizon, theory_opts, simulation, plot, source)


def _required(top: Table, name: str) -> Table:
    table = top.table(name)
    if table is None:
        raise ConfigError(f"{name}: missing required table [{name}]")
    return table
