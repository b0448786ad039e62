"""`hild compare` on a real data set: both theory curves against SGD on the rows, and one-line
config errors (exit 2) for bad data."""

import json
import sys
from pathlib import Path

import pytest

from hild.compare import config
from hild.compare.cli import main

SMALL = """
family = "dataset"
[problem]
{problem}
[optimizer]
lr = 1.0
[horizon]
t = 2.0
num_points = 5
[theory]
method = ["exact", "gaussian"]
[simulation]
seeds = 4
"""
DIABETES = 'data = "diabetes"'


def _run(tmp_path, problem, capsys, text=SMALL):
    path = tmp_path / "run.toml"
    path.write_text(text.format(problem=problem))
    code = main(["compare", str(path), "-o", str(tmp_path / "out")])
    return code, capsys.readouterr().err.strip()


def test_compare_draws_and_scores_both_methods(tmp_path, capsys):
    code, _ = _run(tmp_path, DIABETES, capsys)
    assert code == 0
    report = json.loads((tmp_path / "out" / "agreement.json").read_text())
    assert set(report["methods"]) == {"gaussian"}
    assert (tmp_path / "out" / "theory_gaussian.csv").is_file()
    assert (tmp_path / "out" / "overlay.png").is_file()


@pytest.mark.parametrize("problem, message", [
    ('data = "mnist"', "problem.data: must be one of breast_cancer, diabetes, digits (got 'mnist')"),
    (DIABETES + '\nfeatures = { kind = "relu", width = 0 }',
     "problem.features.width: must be an integer >= 1"),
    ('preprocess = "standardize"\nX = [[1.0, 2.0], [1.0, 3.0]]\ny = [1.0, 2.0]',
     "X[:, 0] is constant"),
    ("X = [[1.0, nan], [0.0, 1.0]]\ny = [1.0, 2.0]", "problem.X[0][1]: must be finite (got nan)"),
    ("X = [[1.0, 2.0], [0.0, 1.0]]\ny = [1.0, 2.0, 3.0]", "y must be a 1-D array of length 2"),
    ("X = [[1.0, 2.0]]\ny = [1.0]", "X must have at least 2 rows (got 1)"),
])
def test_bad_data_is_one_line_and_exit_2(tmp_path, capsys, problem, message):
    code, err = _run(tmp_path, problem, capsys)
    assert code == 2
    assert message in err and "\n" not in err


def test_missing_extra_tells_the_pip_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn raises ImportError
    code, err = _run(tmp_path, DIABETES, capsys)
    assert code == 2
    assert err == ("hild: error: problem.data: 'diabetes' ships with scikit-learn, which is not "
                   "installed: pip install 'hild[data]'")


def test_unknown_method_in_a_list(tmp_path, capsys):
    code, err = _run(tmp_path, DIABETES, capsys, SMALL.replace('"gaussian"]', '"euler"]'))
    assert code == 2 and err.startswith("hild: error: theory.method: must be one of exact, gaussian")


def test_the_digits_example_is_a_valid_config():
    job = config.load(Path(__file__).parents[2] / "examples" / "digits.toml")
    assert (job.family, job.theory["method"], job.reference_methods) == ("dataset", "exact",
                                                                         ("gaussian",))
    assert job.problem.d == 64
