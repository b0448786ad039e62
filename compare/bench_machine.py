"""Benchmarks against the machine's own limits: the sampling bound of a simulation, the
float64 peak, a Python loop of single curves, and a fresh process's start-up time.

Issue-independent references measured in the same run as the timing they qualify, so the
ratios hold on any machine (docs: README, "Speed").
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from hild import simulate
from hild.simulate import chunk_size, sample_bytes

from . import examples


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Best wall seconds of `repeats` calls after one warm-up call."""
    jax.block_until_ready(fn())
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best


def float64_peak(n: int = 1024, repeats: int = 3) -> float:
    """FLOP/s of a float64 n×n matrix product (all cores): the machine's practical peak."""
    a = jnp.ones((n, n), dtype=jnp.float64)
    matmul = jax.jit(lambda x: x @ x)
    return 2.0 * n**3 / best_seconds(lambda: matmul(a), repeats)


def sampling_bound(problem, optimizer, *, seeds: int, key=0, **horizon_and_sim) -> float:
    """Seconds to draw exactly the samples a simulation draws (same PRNG, same keys, same
    chunks of steps), reduced to a checksum so nothing is skipped: what a simulation cannot
    beat."""
    plan = simulate.plan_simulation(problem, optimizer, seeds=seeds, key=key, **horizon_and_sim)
    dtype = simulate.DTYPES[horizon_and_sim.get("dtype", "float32")]
    keys = jax.random.split(plan.key, seeds)
    num_steps = plan.grid.num_steps
    chunk = min(num_steps, chunk_size(sample_bytes(plan.sim, problem, plan.d, plan.samples, dtype),
                                      seeds))
    run = eqx.filter_jit(_draw_all)
    return best_seconds(lambda: run(plan.sim, problem, keys, plan.d, plan.samples, dtype, num_steps,
                             chunk), 1)


def _draw_all(sim, problem, keys, d, samples, dtype, num_steps, chunk):
    def one_seed(key):
        _, fixed, data_key = sim.draw(problem, key, d, dtype)

        def block(total, ks):
            drawn = jax.vmap(lambda k: sim.sample_at(problem, fixed, data_key, k, samples))(ks)
            return total + sum(jnp.sum(x) for x in jax.tree.leaves(drawn)), None

        full = num_steps // chunk
        total, _ = jax.lax.scan(block, jnp.zeros((), dtype),
                                jnp.arange(full * chunk).reshape(full, chunk))
        rest = jnp.arange(full * chunk, num_steps)
        if rest.size:
            total, _ = block(total, rest)
        return total

    return jax.vmap(one_seed)(keys)


def python_loop(curve: Callable, values, count: int = 20) -> float:
    """Seconds per curve of a Python loop calling the jitted single curve (after warm-up)."""
    one = jax.jit(curve)
    jax.block_until_ready(one(values[0]))
    picks = np.asarray(values)[np.linspace(0, len(values) - 1, count).astype(int)]
    start = time.perf_counter()
    for value in picks:
        jax.block_until_ready(one(value))
    return (time.perf_counter() - start) / count


COLD_API = """
import time; start = time.perf_counter()
import tomllib
import jax; jax.config.update("jax_enable_x64", True)
from hild import theory
theory.use_compilation_cache()
data = tomllib.loads(open({path!r}).read())  # the default config, read without compare/
problem = theory.problem_class(data["family"]).from_config(theory.Table(data["problem"], "problem"))
optimizer = theory.optimizer_from_config(theory.Table(data["optimizer"], "optimizer"))
horizon = {{k: v for k, v in data["horizon"].items()}}
options = {{k: v for k, v in data.get("theory", {{}}).items()}}
theory.predict(problem, optimizer, **horizon, **options).risk.block_until_ready()
print(time.perf_counter() - start)
"""


def cold_start(family: str, runs: int = 2) -> dict:
    """Wall seconds of fresh processes with an empty compilation cache, then with the cache
    the first run filled: `hild predict` of the family's default config, and a Python
    process running `theory.predict` on it."""
    out: dict[str, list[float]] = {"cli": [], "api": []}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HILD_CACHE_DIR": os.path.join(tmp, "cli-cache")}
        for i in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "hild", "predict", "--family", family,
                            "-o", os.path.join(tmp, f"out{i}")], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            out["cli"].append(time.perf_counter() - start)
        env["HILD_CACHE_DIR"] = os.path.join(tmp, "api-cache")
        for _ in range(runs):
            start = time.perf_counter()
            path = str(examples.default_path(family))
            subprocess.run([sys.executable, "-c", COLD_API.format(path=path)], env=env,
                           check=True, stdout=subprocess.DEVNULL)
            out["api"].append(time.perf_counter() - start)
    return {"first_seconds": {k: v[0] for k, v in out.items()},
            "cached_seconds": {k: min(v[1:]) for k, v in out.items()}}
