"""Model parallel (shard="d"): memory per device of a simulation split along d.

Run with forced CPU devices, e.g.
    XLA_FLAGS=--xla_force_host_platform_device_count=4 python benchmarks/scaling_memory.py
For least squares and the committee machine at a large d, XLA's compiled memory analysis of
the simulation program (arguments + outputs + temporaries, per device) on one device
against d split over 1, 2, 4 devices; then one short d-split run of each, timed, checked
against the one-device run. Prints a table (docs/scaling-out.md quotes it).
"""

import time

import jax
import numpy as np

from hild import simulate
import hild.simulate._simulate as driver
from hild import theory as th
from hild.simulate import AlongD
from hild.theory.devices import mesh, use_devices

jax.config.update("jax_enable_x64", True)


class Measured(Exception):
    pass


def _compiled_memory(run, args, *, shard, d, block=None):
    if shard == "d" and len(jax.devices()) > 0 and mesh().size > 1:
        args = (AlongD(args[0], mesh(), d), *args[1:])
    stats = run.lower(*args).compile().compiled.memory_analysis()
    raise Measured(stats)


def memory_per_device(problem, optimizer, shard, **options) -> int:
    real = driver.run_sharded
    driver.run_sharded = _compiled_memory
    try:
        simulate.simulate(problem, optimizer, shard=shard, **options)
    except Measured as m:
        stats = m.args[0]
        return stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
    finally:
        driver.run_sharded = real
    raise RuntimeError("not measured")


def main():
    d_big = 2**18
    spec = th.spectra.power_law(d_big, alpha=1.5)
    cases = {
        "least squares": (th.LinearRegression(spec, th.spectra.power_law_teacher(spec, beta=1.2),
                                              noise=0.1), th.SGD(0.5, batch=16), {}),
        "committee K=M=2 erf": (th.CommitteeMachine(K=2, M=2, activation="erf", noise=0.1),
                                th.SGD(0.5, batch=16), {"d": d_big}),
    }
    common = {"steps": 4, "seeds": 2, "key": 0, "num_points": 2, "save_state": False}
    print(f"d = {d_big}, 2 seeds, batch 16 (samples of 16 steps drawn at once)")
    print(f"{'problem':>22} {'devices':>8} {'MiB per device':>15} {'vs 1 device':>12}")
    for name, (problem, opt, extra) in cases.items():
        base = None
        for n in (1, 2, 4):
            with use_devices(n):
                mem = memory_per_device(problem, opt, "d", **common, **extra)
            base = base or mem
            print(f"{name:>22} {n:>8} {mem / 2**20:>15.1f} {mem / base:>12.3f}", flush=True)
    print("one run of 64 steps each: one device vs d over 4 devices")
    for name, (problem, opt, extra) in cases.items():
        runs = {}
        for n in (1, 4):
            with use_devices(n):
                start = time.perf_counter()
                curve = simulate.simulate(problem, opt, shard="d", **dict(common, steps=64), **extra)
                risk = np.asarray(curve.risk)
                runs[n] = (risk, time.perf_counter() - start)
        rel = np.max(np.abs(runs[4][0] - runs[1][0]) / np.abs(runs[1][0]))
        print(f"{name:>22}: final risk {runs[1][0][:, -1]} (1) vs {runs[4][0][:, -1]} (4), max rel "
              f"diff {rel:.2e}; {runs[1][1]:.1f} s vs {runs[4][1]:.1f} s incl. compilation")


if __name__ == "__main__":
    main()
