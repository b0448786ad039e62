"""The frontier's draw-to-draw spread (issue 25): exponents fitted on each draw's frontier."""

import numpy as np
import pytest

from hild.compare import frontier


def test_each_draw_is_fitted_on_its_own_frontier():
    sizes = np.unique(np.round(np.geomspace(8, 512, 25)).astype(int))
    compute = np.geomspace(1e4, 1e8, 30)
    d, f = sizes[:, None].astype(float), compute[None, :]
    exponents = [(1.0, 1.0), (1.0, 0.5)]  # loss d^-a + (f/d)^-b: d* ∝ f^(b/(a+b))
    draws = np.stack([d**-a + (f / d) ** -b for a, b in exponents])
    spread = frontier._draw_spread(sizes, compute, draws)
    assert spread["count"] == 2
    np.testing.assert_allclose(spread["model_size"], [0.5, 1 / 3], atol=0.02)
    assert spread["model_size_std"] == pytest.approx(np.std(spread["model_size"], ddof=1))
