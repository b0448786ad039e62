"""Benchmarks: theory vs the simulation it replaces, and vmapped sweeps vs one curve.

Each family says what to time (`AbstractProblem.bench_case`); this module times it the same
way for all. Timings are wall-clock on this machine; only ratios measured in the same run
mean much. Each timing is the best of `repeats` runs after one warm-up run (which includes
the compilation, reported separately).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable

import jax

from hild import simulate, theory
from hild.theory import BenchCase, Benchmarked

from . import bench_machine as machine
from . import config, examples
from .bench_devices import device_scaling
from .tune import with_values

SWEEP_CHUNK = 50  # candidates per vmapped block in the chunked sweep (keeps d-sized states in cache)


def _timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(first call incl. compilation, best of `repeats` later calls), in seconds."""
    start = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return first, best


def grid_vs_one_curve(curve: Callable, values, say: Callable[[str], None]) -> dict:
    """Time `vmap(curve)` over `values` (one jitted call, and in chunks of `SWEEP_CHUNK` with
    `lax.map`) against `curve` on one value."""
    say(f"grid: {len(values)} values in one vmapped call")
    one = jax.jit(curve)
    grid = jax.jit(jax.vmap(curve))
    one_first, one_best = _timed(lambda: one(values[0]), 3)
    grid_first, grid_best = _timed(lambda: grid(values), 1)
    out = {"points": int(len(values)), "grid_seconds": grid_best, "one_curve_seconds": one_best,
           "grid_over_one_curve": grid_best / one_best,
           "compile_and_first_run_seconds": {"grid": grid_first, "one_curve": one_first}}
    if len(values) % SWEEP_CHUNK == 0 and len(values) > SWEEP_CHUNK:
        say(f"grid: chunks of {SWEEP_CHUNK} (lax.map of vmaps)")
        chunked = jax.jit(lambda v: jax.lax.map(jax.vmap(curve), v.reshape(-1, SWEEP_CHUNK)))
        _, chunked_best = _timed(lambda: chunked(values), 1)
        out["chunked_grid_seconds"] = chunked_best
        out["chunked_grid_over_one_curve"] = chunked_best / one_best
    return out


def families() -> list[str]:
    """Families with a bench case (the `Benchmarked` protocol)."""
    return sorted(name for name, cls in theory.families().items()
                  if issubclass(cls, Benchmarked))


def bench(family: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> dict:
    """Time the family's `BenchCase`: one theory curve per method, the simulation (and at
    `big_d` a hundredth of the horizon, extrapolated: the cost is linear in the steps), and
    a vmapped grid over the sweep field against one curve."""
    say = progress or (lambda msg: None)
    case: BenchCase = theory.problem_class(family).bench_case(quick)
    problem, opt, options = case.problem, case.optimizer, dict(case.theory_options)
    seconds, first = {}, {}
    for method in type(problem).methods:
        say(f"theory: one curve ({method})")
        first[f"theory_{method}"], seconds[f"theory_{method}"] = _timed(
            lambda: theory.predict(problem, opt, method=method, **case.horizon, **options).risk, 3)
    say(f"simulation: {case.simulation}")
    first["simulation"], seconds["simulation"] = _timed(
        lambda: simulate.simulate(problem, opt, key=0, **case.horizon, **case.simulation).risk, 1)
    ratios = {f"simulation_over_theory_{m}": seconds["simulation"] / seconds[f"theory_{m}"]
              for m in type(problem).methods}
    if case.big_d is not None:
        short = dict(case.horizon, t=case.horizon["t"] / 100, num_points=10)
        say(f"simulation: d={case.big_d}, 1/100 of the horizon")
        _, big = _timed(lambda: simulate.simulate(problem, opt, key=0, **short,
                                                  **dict(case.simulation, d=case.big_d)).risk, 1)
        seconds["simulation_big_d_extrapolated"] = 100 * big
        ratios["simulation_big_d_over_theory"] = 100 * big / seconds[f"theory_{next(iter(type(problem).methods))}"]

    def curve(value):
        candidate = with_values(opt, {case.sweep: value})
        return theory.predict(problem, candidate, save_state=False, **case.sweep_horizon,
                              **options).risk

    grid = grid_vs_one_curve(curve, case.sweep_values, say)
    ratios["grid_over_one_curve"] = grid["grid_over_one_curve"]
    say("sweep: a Python loop of single curves, and the float64 peak")
    loop = machine.python_loop(curve, case.sweep_values)
    points = grid["points"]
    grid["curves_per_second"] = points / grid["grid_seconds"]
    grid["loop_curves_per_second"] = 1.0 / loop
    ratios["vmapped_sweep_over_python_loop_throughput"] = loop * points / grid["grid_seconds"]
    peak = machine.float64_peak()
    grid["float64_peak_flops"] = peak
    if case.work_per_curve is not None:
        unit, work = case.work_per_curve
        grid["work_unit"] = unit
        grid["work_per_second"] = work * points / grid["grid_seconds"]
        grid["work_per_second_per_peak_flop"] = grid["work_per_second"] / peak
    say("sampling bound: the same Gaussian numbers, drawn alone")
    seconds["sampling_bound"] = machine.sampling_bound(problem, opt, **case.horizon,
                                                       **case.simulation)
    ratios["simulation_over_sampling_bound"] = seconds["simulation"] / seconds["sampling_bound"]
    by_seeds = {}
    if not quick:
        short = dict(case.horizon, t=case.horizon["t"] / 10)
        for seeds in SEED_COUNTS:
            say(f"simulation vs sampling bound, {seeds} seeds, a tenth of the horizon")
            sim = dict(case.simulation, seeds=seeds)
            _, sim_s = _timed(lambda: simulate.simulate(problem, opt, key=0, **short, **sim).risk, 1)
            bound = machine.sampling_bound(problem, opt, **short, **sim)
            by_seeds[seeds] = {"simulation_seconds": sim_s, "sampling_bound_seconds": bound,
                               "ratio": sim_s / bound}
    default = _warm_default_predict(family)
    if default is not None:
        seconds["warm_default_predict"] = default
    cold = {}
    if not quick and default is not None:
        say("cold start: fresh processes, empty compilation cache, then cached")
        cold = machine.cold_start(family)
    return {
        "family": family,
        "grid": grid,
        "devices": device_scaling(case, say),  # scale-out: compare/bench_devices.py
        "machine": {"platform": platform.platform(), "devices": [str(x) for x in jax.devices()],
                    "jax": jax.__version__},
        "setting": {"problem": problem.describe(), "optimizer": opt.describe(),
                    "horizon": case.horizon, "simulation": case.simulation,
                    "sweep": case.sweep, "sweep_points": int(len(case.sweep_values)),
                    "sweep_horizon": case.sweep_horizon, "big_d": case.big_d},
        "seconds": seconds,
        "compile_and_first_run_seconds": first,
        "ratios": ratios,
        "simulation_vs_sampling_bound_by_seeds": by_seeds,
        "cold_start": cold,
    }


SEED_COUNTS = (2, 8, 32, 64)


def _warm_default_predict(family: str) -> float | None:
    """Best-of-5 seconds of `theory.predict` on the family's embedded default config (its
    horizon and [theory] options), after a warm-up; None without a default."""
    if family not in examples.default_families():
        return None
    job = config.load(None, family)
    return _timed(lambda: theory.predict(job.problem, job.optimizer, **job.horizon,
                                         **job.theory).risk, 5)[1]
