"""Benchmarks: theory vs the simulation it replaces, and vmapped sweeps vs one curve.

Timings are wall-clock on this machine; only ratios measured in the same run mean much.
Each timing is the best of `repeats` runs after one warm-up run (which includes the
compilation, reported separately).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp

import simulate
import theory


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


SWEEP_CHUNK = 50  # candidates per vmapped block in the chunked sweep (keeps d-sized states in cache)


GRID_POINTS = 1000  # issue 6: a grid of this size in one vmapped call, against one curve


def grid_vs_one_curve(curve: Callable, values, say: Callable[[str], None]) -> dict:
    """Time `vmap(curve)` over `values` (one jitted call) against `curve` on one value."""
    say(f"grid: {len(values)} values in one vmapped call")
    one = jax.jit(curve)
    grid = jax.jit(jax.vmap(curve))
    one_first, one_best = _timed(lambda: one(values[0]), 3)
    grid_first, grid_best = _timed(lambda: grid(values), 1)
    return {"points": int(len(values)), "grid_seconds": grid_best, "one_curve_seconds": one_best,
            "grid_over_one_curve": grid_best / one_best,
            "compile_and_first_run_seconds": {"grid": grid_first, "one_curve": one_first}}


def bench_linreg(quick: bool = False, progress: Callable[[str], None] | None = None) -> dict:
    """Least squares: exact recursion vs simulation (d=1000, 32 seeds, 1e5 samples, B=1), and a
    1,000-point learning-rate sweep in one vmapped `predict` vs one curve."""
    say = progress or (lambda msg: None)
    d, seeds, samples, sweep_points = (200, 8, 10_000, 100) if quick else (1000, 32, 100_000, 1000)
    sweep_t = samples / d / 10  # a tenth of the horizon keeps the sweep to seconds
    spec = theory.spectra.power_law(d, 1.5)
    problem = theory.LinearRegression(spec, theory.spectra.power_law_teacher(spec, 1.2), noise=0.1)
    eta_c = float(theory.critical_lr(problem, 1))
    eta = 0.5 * eta_c
    opt = theory.SGD(eta)
    t_end = samples / d

    say("theory: one curve")
    th_first, th_best = _timed(lambda: theory.predict(problem, opt, t=t_end, num_points=200).risk, 3)
    say("ODE: one curve")
    ode_first, ode_best = _timed(lambda: theory.predict(problem, opt, t=t_end, num_points=200,
                                                        method="ode").risk, 3)
    say(f"simulation: {seeds} seeds")
    sim_first, sim_best = _timed(lambda: simulate.simulate(problem, opt, t=t_end, num_points=200,
                                                           seeds=seeds, key=0, save_state=False).risk, 1)

    lrs = jnp.linspace(0.05, 1.0, sweep_points) * eta_c
    curve = lambda lr: theory.predict(problem, theory.SGD(lr), t=sweep_t, num_points=50,
                                      save_state=False).risk
    grid = grid_vs_one_curve(curve, lrs, say)
    chunked = jax.jit(lambda l: jax.lax.map(jax.vmap(curve), l.reshape(-1, SWEEP_CHUNK)))
    ch_first, ch_best = _timed(lambda: chunked(lrs), 1)
    sw_best, one_best = grid["grid_seconds"], grid["one_curve_seconds"]
    sw_first, one_first = (grid["compile_and_first_run_seconds"][k] for k in ("grid", "one_curve"))
    return {
        "family": "linreg",
        "grid": grid,
        "machine": {"platform": platform.platform(), "devices": [str(x) for x in jax.devices()],
                    "jax": jax.__version__},
        "setting": {"d": d, "seeds": seeds, "samples": samples, "batch": 1, "lr": eta,
                    "spectrum": "power_law(alpha=1.5)", "sweep_points": sweep_points,
                    "sweep_t": sweep_t, "sweep_chunk": SWEEP_CHUNK},
        "seconds": {"theory_recursion": th_best, "theory_ode": ode_best, "simulation": sim_best,
                    "sweep_vmapped": sw_best, "sweep_vmapped_chunked": ch_best,
                    "sweep_one_curve": one_best},
        "compile_and_first_run_seconds": {"theory_recursion": th_first, "theory_ode": ode_first,
                                          "simulation": sim_first, "sweep_vmapped": sw_first,
                                          "sweep_vmapped_chunked": ch_first,
                                          "sweep_one_curve": one_first},
        "ratios": {"simulation_over_recursion": sim_best / th_best,
                   "simulation_over_ode": sim_best / ode_best,
                   "sweep_over_one_curve": sw_best / one_best,
                   "chunked_sweep_over_one_curve": ch_best / one_best,
                   "sweep_per_curve_over_one_curve": sw_best / one_best / sweep_points},
    }


def bench_committee(quick: bool = False, progress: Callable[[str], None] | None = None) -> dict:
    """Soft committee machine, K = M = 2 erf, η = 0.5: the theory curve on t ∈ [0, 100] vs the
    simulation (d = 1000, 1e5 steps, 32 seeds vmapped), the simulation at d = 1e4 (timed on a
    hundredth of the horizon and scaled: its cost is linear in the steps), and a 256-point
    learning-rate sweep of the theory in one vmapped call vs one curve."""
    say = progress or (lambda msg: None)
    d, seeds, t_end, big_d, sweep_points = (200, 8, 20.0, 2000, 32) if quick else \
        (1000, 32, 100.0, 10_000, 256)
    init = theory.Overlaps(jnp.array([[0.0105, -0.0003], [-0.0003, 0.0099]]),
                           jnp.array([[0.0059, -0.0015], [0.0013, 0.0075]]), jnp.ones(2))
    problem = theory.CommitteeMachine(2, 2, "erf", init=init)  # the plateau example's start
    opt = theory.SGD(0.5)
    curve = lambda lr: theory.predict(problem, theory.SGD(lr), t=t_end, num_points=200,
                                      plateau=False, save_state=False).risk

    say("theory: one curve")
    th_first, th_best = _timed(lambda: theory.predict(problem, opt, t=t_end, num_points=200,
                                                      plateau=False).risk, 3)
    say(f"simulation: d={d}, {seeds} seeds, {int(t_end * d)} steps")
    sim_first, sim_best = _timed(lambda: simulate.simulate(problem, opt, t=t_end, d=d, seeds=seeds,
                                                           key=0, num_points=200).risk, 1)
    big_t = t_end / 100
    say(f"simulation: d={big_d}, {seeds} seeds, {int(big_t * big_d)} steps (1/100 of the horizon)")
    _, big_best = _timed(lambda: simulate.simulate(problem, opt, t=big_t, d=big_d, seeds=seeds,
                                                   key=0, num_points=10).risk, 1)
    big_sim = big_best * 100
    sweep = grid_vs_one_curve(curve, jnp.linspace(0.05, 1.5, sweep_points), say)
    sw_best, one_best = sweep["grid_seconds"], sweep["one_curve_seconds"]
    sw_first, one_first = (sweep["compile_and_first_run_seconds"][k] for k in ("grid", "one_curve"))
    grid = grid_vs_one_curve(curve, jnp.linspace(0.05, 1.5, 100 if quick else GRID_POINTS), say)
    return {
        "family": "committee",
        "grid": grid,
        "machine": {"platform": platform.platform(), "devices": [str(x) for x in jax.devices()],
                    "jax": jax.__version__},
        "setting": {"K": 2, "M": 2, "activation": "erf", "lr": 0.5, "t": t_end, "d": d,
                    "seeds": seeds, "steps": int(t_end * d), "big_d": big_d,
                    "big_d_steps_timed": int(big_t * big_d), "sweep_points": sweep_points},
        "seconds": {"theory": th_best, "simulation": sim_best,
                    "simulation_big_d_extrapolated": big_sim,
                    "sweep_vmapped": sw_best, "sweep_one_curve": one_best},
        "compile_and_first_run_seconds": {"theory": th_first, "simulation": sim_first,
                                          "sweep_vmapped": sw_first, "sweep_one_curve": one_first},
        "ratios": {"simulation_over_theory": sim_best / th_best,
                   "simulation_big_d_over_theory": big_sim / th_best,
                   "sweep_over_one_curve": sw_best / one_best,
                   "sweep_per_curve_over_one_curve": sw_best / one_best / sweep_points},
    }


BENCHES: dict[str, Callable[..., dict]] = {"linreg": bench_linreg}
BENCHES["committee"] = bench_committee


def bench_sensing(quick: bool = False, progress: Callable[[str], None] | None = None) -> dict:
    """Rank-one sensing, prox-linear: see `compare.sensing.bench`."""
    from .sensing import bench

    return bench(quick, progress)


BENCHES["sensing"] = bench_sensing
