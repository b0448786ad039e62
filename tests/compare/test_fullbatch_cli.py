"""Full-batch GD configs: a bad field is one line naming it, exit 2, nothing written."""

import pytest

from hild.compare.cli import main

HEAD = 'family = "fullbatch"\n[problem]\nspectrum = { kind = "isotropic", d = 10 }\n'


@pytest.mark.parametrize(
    "fields, message",
    [
        ("alpha = -1\n", "problem.alpha: must be > 0"),
        ("alpha = 0\n", "problem.alpha: must be > 0"),
        ("samples = 1\n", "FullBatchRegression.samples must be an integer >= 2"),
        ("samples = 10\nridge = -2\n", "FullBatchRegression.ridge must be >= 0"),
        ("samples = 10\nnoise = -1\n", "FullBatchRegression.noise must be >= 0"),
        ("noise = 0.1\n", "give exactly one of samples"),
    ],
)
def test_bad_fullbatch_config_is_one_line_exit_2(tmp_path, capsys, fields, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(HEAD + fields)
    out = tmp_path / "out"
    assert main(["predict", str(cfg), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hild: error: ") and err.count("\n") == 1
    assert message in err, err
    assert not out.exists()
