"""A `Curve` in a notebook and a data frame: a one-line repr, an HTML view, the long layout of
`to_pandas` and of the saved CSV (and the wide CSV of hild <= 0.2 still loads)."""

import csv

import numpy as np
import pytest

from hild import simulate
from hild import theory as th

PROBLEM = th.LinearRegression(th.spectra.power_law(16, 1.0), noise=0.1)
OPT = th.SGD(0.5, batch=2)


def _simulate(reports: list):
    return simulate.simulate(PROBLEM, OPT, t=2.0, num_points=4, seeds=3, key=0, dtype="float64",
                             progress=lambda done, total: reports.append((done, total)))


FIRST_REPORTS: list = []


@pytest.fixture(scope="module")
def curves():
    return th.predict(PROBLEM, OPT, t=2.0, num_points=4), _simulate(FIRST_REPORTS)


def test_every_run_reports_to_its_own_progress_function(curves):
    """The compiled simulation calls one forwarding function, so a second run with a new
    progress function reuses the program and still reports to the new one."""
    second: list = []
    again = _simulate(second)
    np.testing.assert_array_equal(again.risk, curves[1].risk)
    for reports in (FIRST_REPORTS, second):
        assert reports and reports[0] == (0, 16) and all(total == 16 for _, total in reports)


def test_repr_is_one_line_with_family_method_points_horizon_divergence(curves):
    theory, sim = curves
    assert repr(theory) == "Curve(linreg (exact): 4 points, t = 2 (16 steps), not diverged; risk)"
    assert repr(sim).startswith("Curve(linreg (simulation, d = 16, 3 seeds): 4 points")
    assert "\n" not in repr(sim) and "<table>" in sim._repr_html_()
    diverged = th.predict(th.LinearRegression(th.spectra.isotropic(10)), th.SGD(3.0), t=100.0,
                          num_points=5)
    assert "diverged at t = " in repr(diverged)


def test_to_pandas_is_long(curves):
    pd = pytest.importorskip("pandas")
    theory, sim = curves
    frame = theory.to_pandas()
    assert list(frame.columns) == ["observable", "step", "t", "value"] and len(frame) == 4
    np.testing.assert_array_equal(frame["value"], theory.values())
    frame = sim.to_pandas()
    assert list(frame.columns) == ["observable", "step", "t", "mean", "stderr"]
    np.testing.assert_array_equal(frame["stderr"], sim.stderr())
    seeds = sim.to_pandas(seeds=True)
    assert list(seeds.columns) == ["observable", "seed", "step", "t", "value"] and len(seeds) == 12
    by_seed = seeds.pivot(index="seed", columns="step", values="value").to_numpy()
    np.testing.assert_array_equal(by_seed, sim.values())
    assert isinstance(frame, pd.DataFrame)
    with pytest.raises(ValueError, match="seeds=True needs a simulated curve"):
        theory.to_pandas(seeds=True)


def test_to_pandas_without_pandas_names_the_extra(curves, monkeypatch):
    import builtins

    real = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (
        (_ for _ in ()).throw(ImportError(name)) if name == "pandas" else real(name, *a, **k)))
    with pytest.raises(ImportError, match=r"pip install 'hild\[pandas\]'"):
        curves[0].to_pandas()


def test_saved_csv_is_long_and_loads_back(curves, tmp_path):
    _, sim = curves
    written = {p.name for p in sim.save(tmp_path / "sim")}
    assert {"sim.csv", "sim.seeds.csv"} <= written
    rows = list(csv.DictReader((tmp_path / "sim.csv").open()))
    assert list(rows[0]) == ["observable", "step", "t", "mean", "stderr"] and len(rows) == 4
    back = th.Curve.load(tmp_path / "sim.seeds.csv")
    np.testing.assert_array_equal(back.risk, sim.risk)
    np.testing.assert_array_equal(back.step, sim.step)


def test_wide_csv_of_hild_0_2_still_loads(curves, tmp_path):
    _, sim = curves
    sim.save(tmp_path / "old")
    (tmp_path / "old.seeds.csv").unlink()
    values = sim.values()
    with (tmp_path / "old.csv").open("w", newline="") as f:  # the layout hild 0.2 wrote
        writer = csv.writer(f)
        writer.writerow(["step", "t", "risk_mean", "risk_stderr"] + [f"risk_seed{i}" for i in range(3)])
        for j in range(values.shape[1]):
            writer.writerow([int(sim.step[j]), float(sim.t[j]), 0.0, 0.0, *values[:, j]])
    np.testing.assert_array_equal(th.Curve.load(tmp_path / "old").risk, sim.risk)
