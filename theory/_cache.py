"""JAX's persistent compilation cache: a fresh process reuses the programs compiled by
earlier ones instead of compiling them again (the `hild` CLI turns it on by default)."""

from __future__ import annotations

import os
from pathlib import Path

import jax

CACHE_ENV = "HILD_CACHE_DIR"
"""Environment variable: the cache folder, or "off" to keep the cache off."""


def cache_dir() -> Path | None:
    """$HILD_CACHE_DIR, else $XDG_CACHE_HOME/hild/jax, else ~/.cache/hild/jax; None when
    HILD_CACHE_DIR is "off" (or empty)."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in ("", "off", "0", "false", "no") else Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hild" / "jax"


def use_compilation_cache(path: str | os.PathLike | None = None) -> Path | None:
    """Turn on JAX's persistent compilation cache in `path` (default `cache_dir()`) for
    every compiled program, however quick to compile. Returns the folder, or None when the
    cache is off (HILD_CACHE_DIR=off) or the folder cannot be created."""
    folder = Path(path) if path is not None else cache_dir()
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
