"""`hild compare` with `[plot] spread = true`: the theory band and its score."""

import json

import pytest

from hild.compare.cli import main

CONFIG = """
family = "single_index"
[problem]
link = "erf"
noise = 0.2
quadrature = 16
[optimizer]
lr = 0.5
[horizon]
t = 4.0
num_points = 4
[simulation]
d = 100
seeds = 64
key = 3
dtype = "float64"
[plot]
spread = {spread}
"""


@pytest.mark.slow  # ~15 worker-s of compilation (predict, simulate, spread)
def test_compare_draws_and_scores_the_spread(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text(CONFIG.format(spread="true"))
    assert main(["compare", str(path), "-o", str(tmp_path / "out")]) == 0
    assert "spread: theory band of one run at d = 100" in capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "agreement.json").read_text())
    risk = report["spread"]["risk"]
    assert risk["seeds"] == 64 and risk["checkpoints"] == 3
    # 64 seeds: the ratio's SE is ~9%; 4 SE is a loose but failing bound for a wrong band
    assert abs(risk["ratio_median"] - 1) < 4 * risk["ratio_se_median"]
    assert (tmp_path / "out" / "overlay.png").stat().st_size > 0


def test_spread_must_be_boolean(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text(CONFIG.format(spread="1"))
    assert main(["compare", str(path), "-o", str(tmp_path / "out")]) != 0
    assert "spread" in capsys.readouterr().err
