"""Scale-out with JAX's own machinery: a batch (seeds, candidates) over every device.

`over_devices(fn, args, batch=i)` is `fn(*args)` with `args[i]` (a pytree whose leaves share
a leading axis: keys of seeds, columns of candidates) split over a 1-D mesh of all visible
devices (`jax.devices()`, every host's after `initialize_distributed`) by `shard_map`. Each
device runs `fn` on its slice, so per-element results are the ones one device computes for
the same element; the batch is padded to a multiple of the device count with copies of its
last element and the padding is cut from the outputs. With several processes every process
gets the whole (gathered) output. docs/scaling-out.md says what scales how.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

AXIS = "devices"
_selected: list | None = None


def devices() -> list:
    """The devices a batch is spread over: `jax.devices()` unless `use_devices` narrowed it."""
    return list(jax.devices()) if _selected is None else list(_selected)


@contextlib.contextmanager
def use_devices(selection: int | Sequence | None):
    """Within the block, spread batches over the first `selection` devices (an int) or over
    the given devices (`None`: all). E.g. `with use_devices(1): ...` runs on one device."""
    global _selected
    if isinstance(selection, int) and not isinstance(selection, bool):
        available = jax.devices()
        if not 1 <= selection <= len(available):
            raise ValueError(f"devices must be between 1 and {len(available)} "
                             f"(the visible devices) (got {selection})")
        selection = available[:selection]
    previous, _selected = _selected, (None if selection is None else list(selection))
    try:
        yield
    finally:
        _selected = previous


def mesh(axis: str = AXIS) -> Mesh:
    """A 1-D mesh over `devices()`."""
    return Mesh(np.array(devices()), (axis,))


def over_devices(fn: Callable, args: tuple, *, batch: int = 0, block: int | None = None):
    """`fn(*args)`, with `args[batch]` split along its leading axis over `devices()`.

    `fn` must map a batch to outputs whose leaves all lead with the batch axis, and treat
    the elements independently (a `vmap`). With `block`, every device runs `fn` on blocks
    of exactly `block` elements in sequence (`lax.map`): the same compiled program for
    every element whatever the device count, hence bit-identical results (XLA may round a
    vmap of another width differently, by an ulp). On one device without `block` this is
    exactly `fn(*args)`.
    """
    args = tuple(args)
    items = args[batch]
    chosen = devices()
    if len(chosen) == 1 and jax.process_count() == 1 and block is None:
        return fn(*args)
    size = jax.tree.leaves(items)[0].shape[0]
    multiple = len(chosen) * (block or 1)
    padded_size = -(-size // multiple) * multiple
    raw, impls = _key_data(items)
    raw = jax.tree.map(lambda x: _pad(np.asarray(x), padded_size), raw)
    the_mesh = Mesh(np.array(chosen), (AXIS,))
    raw = jax.tree.map(lambda x: _global(x, NamedSharding(the_mesh, P(AXIS))), raw)
    rest = args[:batch] + args[batch + 1:]
    if jax.process_count() > 1:
        replicated = NamedSharding(the_mesh, P())
        rest = jax.tree.map(lambda x: _global(np.asarray(x), replicated) if eqx.is_array(x) else x,
                            rest)
    out = _sharded(fn, the_mesh, batch, block, impls, raw, rest)
    if jax.process_count() > 1:
        out = jax.tree.map(jnp.asarray, multihost_utils.process_allgather(out, tiled=True))
    return jax.tree.map(lambda x: x[:size], out)


@eqx.filter_jit
def _sharded(fn, the_mesh, batch, block, impls, raw, rest):
    dynamic, static = eqx.partition(rest, eqx.is_array)

    def call(raw, dynamic):
        others = list(eqx.combine(dynamic, static))
        return fn(*others[:batch], _wrap_keys(raw, impls), *others[batch:])

    def local(raw, dynamic):
        if block is None:
            return call(raw, dynamic)
        blocks = jax.tree.map(lambda x: x.reshape(-1, block, *x.shape[1:]), raw)
        out = jax.lax.map(lambda b: call(b, dynamic), blocks)
        return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), out)

    return jax.shard_map(local, mesh=the_mesh, in_specs=(P(AXIS), P()), out_specs=P(AXIS),
                         check_vma=False)(raw, dynamic)


def _key_data(items):
    """Typed PRNG keys -> their uint32 data (and the key implementation, to wrap them back)."""
    leaves, treedef = jax.tree.flatten(items)
    impls = tuple(jax.random.key_impl(x) if _is_key(x) else None for x in leaves)
    data = [jax.random.key_data(x) if _is_key(x) else x for x in leaves]
    return jax.tree.unflatten(treedef, data), impls


def _wrap_keys(raw, impls):
    leaves, treedef = jax.tree.flatten(raw)
    leaves = [x if impl is None else jax.random.wrap_key_data(x, impl=impl)
              for x, impl in zip(leaves, impls)]
    return jax.tree.unflatten(treedef, leaves)


def _is_key(x) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _pad(x: np.ndarray, size: int) -> np.ndarray:
    """`x` with copies of its last element appended up to `size` rows (cut again afterwards)."""
    if x.shape[0] == size:
        return x
    return np.concatenate([x, np.repeat(x[-1:], size - x.shape[0], axis=0)])


def _global(x: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A global array from the full value every process holds (its own shards are used)."""
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


# ------------------------------------------------------------------ several hosts

ENV_COORDINATOR = "JAX_COORDINATOR_ADDRESS"
ENV_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"


def initialize_distributed() -> tuple[int, int]:
    """Join a multi-process run with `jax.distributed.initialize`; returns (process id, count).

    Reads the standard environment: `JAX_COORDINATOR_ADDRESS` (host:port of process 0),
    `JAX_NUM_PROCESSES` and `JAX_PROCESS_ID`; what is unset JAX detects on clusters it knows
    (SLURM, Open MPI, ...). On CPU the processes talk through gloo collectives.
    """
    kwargs = {}
    for name, env in (("num_processes", ENV_PROCESSES), ("process_id", ENV_PROCESS_ID)):
        value = os.environ.get(env)
        if value is not None:
            if not value.isdigit():
                raise ValueError(f"{env} must be a non-negative integer (got {value!r})")
            kwargs[name] = int(value)
    jax.distributed.initialize(**kwargs)
    return jax.process_index(), jax.process_count()


def is_writer() -> bool:
    """True in the process that writes outputs (process 0; the only one without distribution)."""
    return jax.process_index() == 0
