"""Theory programs kept across processes (theory/_exported.py): the exported program gives
the curve of the ordinary path bit for bit, is found again by a second call, and a different
job (another shape) gets its own, and a lambda has no key."""

import numpy as np

from hild import theory as th
from hild.theory import _exported


def _curve(lr=0.5, points=5):
    problem = th.LinearRegression(th.spectra.power_law(8, 1.0), noise=0.1)
    return th.predict(problem, th.SGD(lr, batch=2), t=2.0, num_points=points)


def test_exported_program_matches_the_ordinary_path_and_is_reused(tmp_path):
    plain = _curve()
    with _exported.exported_programs(tmp_path):
        first = _curve()
        programs = sorted((tmp_path / "hild-exported").glob("*.bin"))
        again = _curve()
        other = _curve(points=6)
    assert len(programs) == 1
    for curve in (first, again):
        np.testing.assert_array_equal(curve.risk, plain.risk)
        np.testing.assert_array_equal(curve.state.a, plain.state.a)
        assert curve.metadata == plain.metadata and repr(curve) == repr(plain)
    assert len(list((tmp_path / "hild-exported").glob("*.bin"))) == 2 and other.risk.shape == (6,)


def test_a_lambda_has_no_key_and_a_module_function_has_one():
    assert _exported._key((lambda x: x,)) is None
    assert _exported._key((np.sin,)) is not None
