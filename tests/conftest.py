"""Strict JAX for every test: float64, no implicit rank promotion."""

import os
import sys
import tempfile
from pathlib import Path

import jax
import pytest

from hild.theory import use_compilation_cache

PLUGIN = Path(__file__).parent / "plugins" / "hild_toy"
"""A family and an optimizer from outside hild (an installable package); in-process tests
import it from here, the shell tests install it (tests/test_plugins.py)."""
sys.path.insert(0, str(PLUGIN))

# the CLI's compilation cache goes to a scratch folder, not the user's ~/.cache
os.environ.setdefault("HILD_CACHE_DIR", os.path.join(tempfile.gettempdir(), "hild-test-cache"))

jax.config.update("jax_enable_x64", True)
# One compilation cache for the session: both workers and every `hild` subprocess reuse the
# programs any of them compiled (the CLI turns it on from the same HILD_CACHE_DIR).
use_compilation_cache()
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def getkey():
    """A fresh, deterministic key per call within a test."""
    counter = iter(range(10**6))

    def _getkey():
        return jax.random.key(next(counter))

    return _getkey
