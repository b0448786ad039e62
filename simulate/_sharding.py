"""How `simulate` spreads over devices: seeds (data parallel) or d (model parallel).

- "seeds" (default): the seeds' keys, `jax.random.split(key, seeds)` as on one device, are
  split over a 1-D mesh of every visible device (`hild.theory.devices.over_devices`); each
  device runs the vmapped driver on its seeds, so each seed's run is the one a single
  device computes: bit-identical results. Seeds that do not divide are padded with copies
  of the last seed, which the outputs never show.
- "d": every array with a trailing axis of length d (weights, teacher, spectrum, samples,
  gradients) is split along that axis over the mesh, by sharding constraints on what the
  family's hooks return; XLA partitions the rest (d-sums become partial sums plus an
  all-reduce). For a d whose per-seed state or samples do not fit on one device. The
  random samples are the same numbers (JAX's partitionable threefry), but sums over d are
  taken in another order: equal to one device's results to rounding, not bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from hild.theory.devices import AXIS, mesh, over_devices

from ._family import AbstractSimulation, Instance

SHARDS = ("seeds", "d")


def check_shard(shard: str, seed_block: int | None) -> None:
    if shard not in SHARDS:
        raise ValueError(f"shard must be one of {', '.join(SHARDS)} (got {shard!r})")
    if seed_block is not None and (isinstance(seed_block, bool) or not isinstance(seed_block, int)
                                   or seed_block < 1):
        raise ValueError(f"seed_block must be an integer >= 1 or None (got {seed_block!r})")
    if seed_block is not None and shard != "seeds":
        raise ValueError("seed_block applies to shard='seeds' only")


def run_sharded(run: Callable, args: tuple, *, shard: str, d: int, block: int | None = None):
    """`run(sim, problem, optimizer, keys, ...)` with the seeds' keys (in blocks of `block`)
    or d over the devices."""
    if shard == "seeds":
        return over_devices(run, args, batch=3, block=block)
    the_mesh = mesh()
    n = the_mesh.size
    if jax.process_count() > 1:
        raise ValueError("shard='d' runs on the devices of one host; use shard='seeds' across hosts")
    if n == 1:
        return run(*args)
    if d % n:
        raise ValueError(f"shard='d' needs d divisible by the number of devices ({n}) (got d = {d})")
    return run(AlongD(args[0], the_mesh, d), *args[1:])


class AlongD(AbstractSimulation):
    """A family's simulation whose d-long arrays are split along d over `mesh`."""

    inner: AbstractSimulation
    mesh: Mesh = eqx.field(static=True)
    d: int = eqx.field(static=True)

    def _split(self, tree):
        def constrain(x):
            if not eqx.is_array(x) or x.ndim == 0 or x.shape[-1] != self.d:
                return x
            spec = P(*([None] * (x.ndim - 1)), AXIS)
            return jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh, spec))

        return jax.tree.map(constrain, tree)

    def dimension(self, problem, d):
        return self.inner.dimension(problem, d)

    def draw(self, problem, key, d, dtype) -> Instance:
        params, fixed, data_key = self.inner.draw(problem, key, d, dtype)
        return Instance(self._split(params), self._split(fixed), data_key)

    def sample(self, problem, fixed, key, batch):
        return self._split(self.inner.sample(problem, fixed, key, batch))

    def sample_at(self, problem, fixed, data_key, step, batch):
        return self._split(self.inner.sample_at(problem, fixed, data_key, step, batch))

    def gradient(self, problem, fixed, params, sample):
        return self._split(self.inner.gradient(problem, fixed, params, sample))

    def linearize(self, problem, fixed, params, sample):
        return self.inner.linearize(problem, fixed, params, sample)

    def observe(self, problem, fixed, params):
        return self.inner.observe(problem, fixed, params)

    def metadata(self, problem, optimizer, d):
        return self.inner.metadata(problem, optimizer, d)
