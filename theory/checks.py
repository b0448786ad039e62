"""Validation of user-facing fields: a ValueError that names the field and its range.

Concrete values are checked when an object is built (`__check_init__`). Traced values
(inside `jit`/`vmap`/`grad`) cannot raise at construction; `checked` wraps them with
`equinox.error_if`, so the same message surfaces at run time.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os

import equinox as eqx
import equinox._errors as _eqx_errors
import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x) -> bool:
    """True when `x` holds values (not a tracer)."""
    return not isinstance(x, jax.core.Tracer)


def _as_numpy(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _describe(x) -> str:
    arr = np.asarray(x)
    if arr.ndim == 0:
        return repr(arr.item())
    return f"array of shape {arr.shape}, min {np.nanmin(arr):.4g}, max {np.nanmax(arr):.4g}"


def check_finite(name: str, x) -> None:
    """Refuse a concrete value with a NaN or an infinity (ValueError naming `name`)."""
    if is_concrete(x) and not np.all(np.isfinite(_as_numpy(x))):
        raise ValueError(f"{name} must be finite (got {_describe(x)})")


def check_range(
    name: str,
    x,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ValueError unless every entry of concrete `x` is finite and in the range."""
    if not is_concrete(x):
        return
    check_finite(name, x)
    arr = _as_numpy(x)
    ok_low = arr > low if low_open else arr >= low
    ok_high = arr < high if high_open else arr <= high
    if not (np.all(ok_low) and np.all(ok_high)):
        raise ValueError(f"{name} must be {range_text(low, high, low_open, high_open)} "
                         f"(got {_describe(x)})")


def range_text(low, high, low_open=False, high_open=False) -> str:
    """The allowed range as error messages state it, e.g. `in [0, 1)` or `> 0`."""
    if high == math.inf:
        return f"{'>' if low_open else '>='} {low:g}"
    if low == -math.inf:
        return f"{'<' if high_open else '<='} {high:g}"
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    return f"in {left}{low:g}, {high:g}{right}"


INT32_MAX = 2**31 - 1


def check_integer(name: str, x, *, low: int = 1, high: int = INT32_MAX) -> None:
    """An integer in [low, high]; sizes and counts stay within int32 (JAX's index type)."""
    if not is_concrete(x):
        return
    arr = _as_numpy(x)
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)) or np.any(arr < low) \
            or np.any(arr > high):
        bound = f">= {low}" if np.all(arr <= high) else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {bound} (got {_describe(x)})")


def check_vector(name: str, x, *, size: int | None = None) -> None:
    """Refuse a concrete value that is not a finite 1-D array (of length `size`, if given)."""
    if not is_concrete(x):
        return
    arr = np.asarray(x)
    if arr.ndim != 1 or (size is not None and arr.shape[0] != size):
        want = "a 1-D array" if size is None else f"a 1-D array of length {size}"
        raise ValueError(f"{name} must be {want} (got shape {arr.shape})")
    check_finite(name, x)


_RUNTIME_CHECKS = contextvars.ContextVar("hild_runtime_checks", default=True)


@contextlib.contextmanager
def runtime_checks(on: bool):
    """Trace the block with (`on`) or without run-time checks: those of `checked`, and the
    `equinox.error_if` input checks inside diffrax and lineax. The drivers turn them off
    when every input was concrete, and so already checked on the host, and then check
    solver results on the host: a program without host callbacks is one that JAX's
    persistent compilation cache can store."""
    token = _RUNTIME_CHECKS.set(bool(on))
    before = getattr(_eqx_errors, "EQX_ON_ERROR", None)
    if not on and before is not None:
        _eqx_errors.EQX_ON_ERROR = "off"  # read by error_if at trace time
    try:
        yield
    finally:
        _RUNTIME_CHECKS.reset(token)
        if before is not None:
            _eqx_errors.EQX_ON_ERROR = before


def checked(x, name: str, *, low: float = -math.inf, high: float = math.inf,
            low_open: bool = False, high_open: bool = False):
    """Return `x`, with a run-time check of its range when it is traced (and checks are on)."""
    if is_concrete(x):
        check_range(name, x, low=low, high=high, low_open=low_open, high_open=high_open)
        return x
    if not _RUNTIME_CHECKS.get():
        return x
    bad_low = x <= low if low_open else x < low
    bad_high = x >= high if high_open else x > high
    bad = jnp.any(bad_low | bad_high | ~jnp.isfinite(x))
    msg = f"{name} must be {range_text(low, high, low_open, high_open)}"
    return eqx.error_if(x, bad, msg)


def available_memory() -> int:
    """Bytes a run may allocate: the default device's limit where JAX reports one (GPUs),
    else the host's available memory (MemAvailable)."""
    stats = jax.local_devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def format_bytes(n: float) -> str:
    """A byte count in binary units, e.g. `1.5 GiB`."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError


def check_memory(fields: str, nbytes: float, what: str) -> None:
    """Refuse, before allocating, a run whose estimated memory exceeds what is available;
    the message names the `fields` that set the size."""
    available = available_memory()
    if nbytes > available:
        raise ValueError(f"{fields}: {what} needs about {format_bytes(nbytes)}, more than the "
                         f"{format_bytes(available)} available")


INT64_MAX = 2**63 - 1


def check_int_range(name: str, value: int, low: int, high: int) -> None:
    """For plain integers that become array sizes or seeds (e.g. a PRNG key in
    [0, 2**32 - 1]): a ValueError naming the range instead of an overflow deep inside."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}] (got {value!r})")


def check_dimension(name: str, d, *, bytes_per_entry: int = 64) -> None:
    """An integer dimension >= 1 whose arrays (about `bytes_per_entry` per entry) fit."""
    check_integer(name, d)
    if is_concrete(d):
        check_memory(name, float(d) * bytes_per_entry, f"d = {int(d)}")


class surface_check_errors:
    """Context manager: a failed run-time check (`checked`, an `equinox.error_if`) becomes
    the one-line error it states — a ValueError for a value out of its range, a
    RuntimeError otherwise (e.g. an ODE solve that hit max_steps) — instead of a runtime
    error wrapped in the JIT stack. It surfaces where the jitted call runs (under `vmap`,
    inside `predict`; under a user's own `jit`, outside it)."""

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        if kind is None or not issubclass(kind, eqx.EquinoxRuntimeError):
            return False
        prefix = "EquinoxRuntimeError: "
        lines = [ln.split(prefix, 1)[1] for ln in str(err).splitlines() if prefix in ln]
        message = lines[-1].strip() if lines else str(err).strip().splitlines()[-1]
        cls = ValueError if " must be " in message else RuntimeError
        raise cls(message) from None
