"""Strict JAX for every test: float64, no implicit rank promotion."""

import os
import sys
import tempfile
from pathlib import Path

import jax
import pytest

PLUGIN = Path(__file__).parent / "plugins" / "hild_toy"
"""A family and an optimizer from outside hild (an installable package); in-process tests
import it from here, the shell tests install it (tests/test_plugins.py)."""
sys.path.insert(0, str(PLUGIN))

# the CLI's compilation cache goes to a scratch folder, not the user's ~/.cache
os.environ.setdefault("HILD_CACHE_DIR", os.path.join(tempfile.gettempdir(), "hild-test-cache"))

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def getkey():
    """A fresh, deterministic key per call within a test."""
    counter = iter(range(10**6))

    def _getkey():
        return jax.random.key(next(counter))

    return _getkey
