"""`hild predict | simulate | compare` with family = "committee" configs."""

import json
import tomllib
from pathlib import Path

from hild.compare import config, examples
from hild.compare.cli import main

# The embedded default (K = M = 2 erf plateau, shared init, d = 500) with 16 seeds and 11
# points: the plateau and its escape, t in [0, 150].
PLATEAU = examples.default_text("committee").replace("seeds = 32", "seeds = 16").replace(
    "num_points = 61", "num_points = 11")


def test_compare_plateau_and_escape(tmp_path):
    """theory vs simulation through the CLI: within 3 SE at every recorded t, through the
    plateau (t ~ 9-93) and the escape (measured max |z| 1.85)."""
    path = tmp_path / "committee.toml"
    path.write_text(PLATEAU)
    assert main(["compare", str(path), "-o", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "agreement.json").read_text())
    assert report["max_abs_z"] <= 3.0, report
    theory = json.loads((tmp_path / "out" / "theory.json").read_text())
    assert theory["family"] == "committee" and theory["metadata"]["d"] is None
    simulation = json.loads((tmp_path / "out" / "simulation.json").read_text())
    assert simulation["metadata"]["d"] == 500


def test_predict_and_simulate_and_examples(tmp_path):
    small = PLATEAU.replace("t = 150.0", "t = 2.0").replace("d = 500 ", "d = 50  ")
    path = tmp_path / "small.toml"
    path.write_text(small)
    for command, written in (("predict", "theory.csv"), ("simulate", "simulation.csv")):
        assert main([command, str(path), "-o", str(tmp_path / command)]) == 0
        assert (tmp_path / command / written).is_file()
    job = config.load(Path(__file__).parents[2] / "examples" / "committee_plateau.toml")
    assert job.family == "committee" and job.problem.init is not None
    assert tomllib.loads(examples.default_text("committee"))["family"] == "committee"


def test_bad_committee_config_is_one_line_exit_2(tmp_path, capsys):
    for old, new, message in (("K = 2 ", "K = 0 ", "CommitteeMachine.K must be an integer >= 1"),
                              ('activation = "erf"', 'activation = "swish"', "activation must be one of"),
                              ("T = [[1.0, 0.0], [0.0, 1.0]]", "T = [[1.0, 2.0], [2.0, 1.0]]",
                               "T must be positive semi-definite"),
                              ("lr = 0.5 ", "lr = -0.5 ", "SGD.lr must be > 0"),
                              ("gradient_flow = false", "gradient_flow = false\ninit_d = 3",
                               "theory.init_d: unknown field")):
        text = examples.default_text("committee")
        assert old in text, old
        path = tmp_path / "bad.toml"
        path.write_text(text.replace(old, new, 1))
        assert main(["predict", str(path), "-o", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and err.count("\n") == 0, err
    assert not (tmp_path / "out").exists()
