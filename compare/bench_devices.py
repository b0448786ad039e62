"""`hild bench`: throughput against the number of devices (docs/scaling-out.md).

With more than one visible device (GPUs, or CPU devices forced with
XLA_FLAGS=--xla_force_host_platform_device_count=N), the family's simulation (seeds over
devices, a tenth of its horizon) and its vmapped sweep (candidates over devices) are timed on
1, 2, 4, ... of them. Each timing is the best of two runs after a warm-up (compilation).
"""

from __future__ import annotations

from collections.abc import Callable

import jax

from hild import simulate
from hild import theory
from hild.theory import BenchCase
from hild.theory.devices import over_devices, use_devices

from .bench_machine import best_seconds
from .tune import with_values


def device_counts() -> list[int]:
    """1, 2, 4, ... up to the visible devices (and the count itself)."""
    total = len(jax.devices())
    counts = [2**k for k in range(total.bit_length()) if 2**k <= total]
    return counts + ([total] if counts[-1] != total else [])


def device_scaling(case: BenchCase, say: Callable[[str], None]) -> dict | None:
    """Seeds·steps per second of the simulation and candidates per second of the sweep on
    each device count, and their speed-up over one device; None with a single device."""
    counts = device_counts()
    if len(counts) == 1:
        return None
    problem, opt, options = case.problem, case.optimizer, dict(case.theory_options)
    horizon = dict(case.horizon, t=case.horizon["t"] / 10, num_points=10)
    seeds = case.simulation.get("seeds", 32)

    def run_simulation():
        return simulate.simulate(problem, opt, key=0, **horizon, **case.simulation).risk

    steps = int(simulate.simulate(problem, opt, key=0, **horizon, **case.simulation).step[-1])

    def curve(value):
        return theory.predict(problem, with_values(opt, {case.sweep: value}), save_state=False,
                              **case.sweep_horizon, **options).risk

    sweep = jax.jit(jax.vmap(curve))
    rows = []
    for n in counts:
        with use_devices(n):
            say(f"devices: {n} ({seeds} seeds, {len(case.sweep_values)} candidates)")
            sim_seconds = best_seconds(run_simulation, 2)
            sweep_seconds = best_seconds(lambda: over_devices(sweep, (case.sweep_values,)), 2)
        rows.append({"devices": n, "simulation_seconds": sim_seconds,
                     "seed_steps_per_second": seeds * steps / sim_seconds,
                     "sweep_seconds": sweep_seconds,
                     "candidates_per_second": len(case.sweep_values) / sweep_seconds})
    for row in rows:
        row["simulation_speedup"] = rows[0]["simulation_seconds"] / row["simulation_seconds"]
        row["sweep_speedup"] = rows[0]["sweep_seconds"] / row["sweep_seconds"]
    return {"platform": jax.devices()[0].platform, "simulation_horizon": horizon,
            "seeds": seeds, "steps_per_seed": steps, "rows": rows}


def report_lines(scaling: dict | None) -> list[str]:
    """The table `hild bench` prints (nothing with a single device)."""
    if scaling is None:
        return []
    lines = [(f"throughput vs {scaling['platform']} devices: simulation {scaling['seeds']} seeds x "
              f"{scaling['steps_per_seed']} steps; sweep"),
             f"{'devices':>8} {'seed-steps/s':>14} {'speed-up':>9} {'candidates/s':>14} {'speed-up':>9}"]
    for row in scaling["rows"]:
        lines.append(f"{row['devices']:>8} {row['seed_steps_per_second']:>14.4g} "
                     f"{row['simulation_speedup']:>9.2f} {row['candidates_per_second']:>14.4g} "
                     f"{row['sweep_speedup']:>9.2f}")
    return lines
