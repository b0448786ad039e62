"""Theory programs kept across processes with `jax.export`: a fresh `hild predict` of a job
run before skips tracing the theory (for an ODE family most of a cached run's time; the
compiled code itself comes from JAX's persistent compilation cache).

On only inside `exported_programs(folder)` (the CLI, with its compilation cache on), in a
single process, for concrete inputs (no run-time checks: a program with host callbacks cannot be exported) and
inputs whose static part has a stable text form. A program is found by a hash of that text,
of the array shapes and dtypes, of the JAX/diffrax/equinox versions, the backend, and of the
source files of hild and of the packages that define the problem, the optimizer and the
theory, so an edit of any of them compiles anew. Anything else runs as before. (The folder
is trusted like JAX's own cache: its entries are loaded with pickle.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.metadata
import os
import pickle
import sys
from pathlib import Path
from typing import Callable

import equinox as eqx
import jax
import numpy as np

from .atomic import atomic_write

_FOLDER: list[Path] = []
_SCALARS = (bool, int, float, complex, str, type(None))


@contextlib.contextmanager
def exported_programs(folder: str | os.PathLike | None):
    """Keep and reuse exported theory programs in `folder` within the block (None: off)."""
    if folder is None:
        yield
        return
    _FOLDER.append(Path(folder) / "hild-exported")
    try:
        yield
    finally:
        _FOLDER.pop()


def call(traced: Callable, args: tuple, checks: bool, fallback: Callable):
    """`traced(*args)` through an exported program when one can be kept, else `fallback(*args)`."""
    key = None if checks or not _FOLDER or jax.process_count() > 1 else _key(args)
    if key is None:
        return fallback(*args)
    dynamic, static = eqx.partition(args, eqx.is_array)
    leaves, treedef = jax.tree.flatten(dynamic)
    program, skeleton = _FOLDER[-1] / f"{key}.bin", _FOLDER[-1] / f"{key}.pkl"
    if program.is_file() and skeleton.is_file():
        try:
            exported = jax.export.deserialize(bytearray(program.read_bytes()))
            with skeleton.open("rb") as f:
                out_dynamic, out_static = eqx.partition(pickle.load(f), eqx.is_array)
            out = jax.jit(exported.call)(*leaves)
            return eqx.combine(jax.tree.unflatten(jax.tree.structure(out_dynamic), out), out_static)
        except Exception:  # an unreadable entry (another version, a cut write): export anew
            pass
    box = {}

    def flat(*leaves):
        out = traced(*eqx.combine(jax.tree.unflatten(treedef, leaves), static))
        out_dynamic, box["static"] = eqx.partition(out, eqx.is_array)
        out_leaves, box["tree"] = jax.tree.flatten(out_dynamic)
        return out_leaves

    try:
        exported = jax.export.export(jax.jit(flat))(*leaves)
    except NotImplementedError:  # e.g. a host callback in the family's theory
        return fallback(*args)
    result = eqx.combine(jax.tree.unflatten(box["tree"], jax.jit(exported.call)(*leaves)),
                         box["static"])
    try:
        program.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(program, lambda f: f.write(exported.serialize()), binary=True)
        numpy_result = jax.tree.map(np.asarray, eqx.filter(result, eqx.is_array))
        atomic_write(skeleton, lambda f: pickle.dump(eqx.combine(numpy_result, box["static"]), f),
                     binary=True)
    except (OSError, ImportError, pickle.PicklingError, TypeError, AttributeError):
        pass  # not kept: the next run exports again
    return result


def _key(args: tuple) -> str | None:
    """The hash naming the program of `args`, or None when their static part has no stable
    text form (a lambda or closure, an object printed with its address, a shortened array)."""
    dynamic, static = eqx.partition(args, eqx.is_array)
    parts = []
    for leaf in jax.tree.leaves(static):
        if isinstance(leaf, _SCALARS):
            parts.append(repr(leaf))
        elif callable(leaf) and _stable_function(leaf):
            parts.append(f"{leaf.__module__}.{leaf.__qualname__}")
        else:
            return None
    structure = str(jax.tree.structure(static)) + str(jax.tree.structure(dynamic))
    if "0x" in structure or "..." in structure or "<" in structure:
        return None
    shapes = [(x.shape, str(x.dtype), bool(getattr(x, "weak_type", False)))
              for x in jax.tree.leaves(dynamic)]
    text = repr((parts, structure, shapes, _environment(), _sources(args)))
    return hashlib.sha256(text.encode()).hexdigest()


def _stable_function(fn) -> bool:
    """True when `fn` is what its module and qualified name point at (not a lambda or a
    function made at run time, whose name does not say what it does)."""
    target = sys.modules.get(getattr(fn, "__module__", None) or "")
    for part in getattr(fn, "__qualname__", "<").split("."):
        target = getattr(target, part, None)
    return target is fn


def _environment() -> tuple:
    versions = tuple(importlib.metadata.version(p) for p in ("jax", "jaxlib", "diffrax", "equinox"))
    device = jax.devices()[0]
    return versions, device.platform, device.device_kind, bool(jax.config.jax_enable_x64)


def _sources(args: tuple) -> str:
    """A hash of the source of every loaded module of hild and of the top-level packages
    that define the objects and functions in `args`."""
    packages = {"hild"} | {module.split(".")[0] for module in _modules(args, set())}
    digest = hashlib.sha256()
    for name in sorted(sys.modules):
        path = getattr(sys.modules[name], "__file__", None)
        if name.split(".")[0] in packages and path and path.endswith(".py"):
            digest.update(name.encode())
            digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def _modules(x, seen: set[int]) -> set[str]:
    """The modules defining `x` and everything inside it (containers, dataclass fields)."""
    if id(x) in seen or isinstance(x, _SCALARS + (np.ndarray, jax.Array)):
        return set()
    seen.add(id(x))
    found = {getattr(x, "__module__", None) or type(x).__module__, type(x).__module__}
    if isinstance(x, (list, tuple)):
        children = list(x)
    elif isinstance(x, dict):
        children = list(x.values())
    elif dataclasses.is_dataclass(x) and not isinstance(x, type):
        children = [getattr(x, f.name, None) for f in dataclasses.fields(x)]
    else:
        children = []
    for child in children:
        found |= _modules(child, seen)
    return found
