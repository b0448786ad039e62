"""The `hild` command line: runs, outputs, and one-line errors for bad configs."""

import json
import re
import tomllib

import pytest

from hild import theory as th
from hild.compare import config, examples
from hild.compare.cli import main

SMALL = """
family = "linreg"
[problem]
spectrum = { kind = "power_law", d = 30, alpha = 1.2 }
noise = 0.1
[optimizer]
lr = 0.5
batch = 2
[horizon]
t = 3.0
num_points = 6
[simulation]
seeds = 4
"""


def _write(tmp_path, text, name="run.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_predict_simulate_compare_write_their_outputs(tmp_path):
    cfg = _write(tmp_path, SMALL)
    for command, files in (("predict", {"theory.csv", "theory.json", "theory.png"}),
                           ("simulate", {"simulation.csv", "simulation.json", "simulation.png"}),
                           ("compare", {"overlay.png", "agreement.json"})):
        out = tmp_path / command
        assert main([command, cfg, "-o", str(out)]) == 0
        names = {p.name for p in out.iterdir()}
        assert files <= names and "config.used.toml" in names
        assert not [n for n in names if n.endswith(".tmp")]
    report = json.loads((tmp_path / "compare" / "agreement.json").read_text())
    assert report["points"] == 6 and report["seeds"] == 4
    curve = th.Curve.load(tmp_path / "compare" / "theory")
    assert curve.risk.shape == (6,)


def test_compare_alone_runs_the_embedded_default(tmp_path, capsys):
    assert main(["compare", "-o", str(tmp_path)]) == 0
    assert (tmp_path / "overlay.png").stat().st_size > 20_000
    assert "agreement: max |z|" in capsys.readouterr().out


def test_every_embedded_default_is_a_valid_config():
    for family in examples.default_families():
        job = config.load(None, family)
        assert job.family == family


BAD = [
    ("[problem]\nnoise = 0.1\nspectrum = [1.0, -2.0]", "spectrum must be >= 0"),
    ("[problem]\nspectrum = [1.0, nan]", "problem.spectrum[1]: must be finite"),
    ("[problem]\nspectrum = [1.0]\nnoize = 0.1", "problem.noize: unknown field"),
    ("[problem]\nspectrum = { kind = \"power_law\", d = 10 }", "problem.spectrum.alpha: missing"),
    ("[optimizer]\nlr = 0.0", "SGD.lr must be > 0"),
    ("[optimizer]\nlr = -1.0", "SGD.lr must be > 0"),
    ("[optimizer]\nlr = nan", "optimizer.lr: must be finite"),
    ("[optimizer]\nlr = \"fast\"", "optimizer.lr: expected a number"),
    ("[optimizer]\nlr = 0.1\nbatch = 0", "optimizer.batch: must be an integer >= 1"),
    ("[optimizer]\nlr = 0.1\nbatch = 1.5", "optimizer.batch: expected an integer"),
    ("[optimizer]\nlr = 0.1\nmomentum = 1.0", r"SGD.momentum must be in [0, 1)"),
    ("[optimizer]\nlr = 0.1\nmomentum = -0.5", r"SGD.momentum must be in [0, 1)"),
    ("[optimizer]\nschedule = { kind = \"cosine\", init = 1.0 }", "optimizer.schedule.t_max: missing"),
    ("[horizon]\nt = 1.0\nsteps = 10", "exactly one of steps"),
    ("[horizon]\nt = -1.0", "t must be a finite number > 0"),
    ("[theory]\nmethod = \"euler\"", "method must be one of"),
    ("[theory]\nsolver = \"tsit5\"", "theory.solver: unknown field"),
    ("[simulation]\nseeds = 1", "simulation.seeds: must be an integer >= 2"),
    ("[simulation]\ndtype = \"float16\"", "simulation.dtype: must be one of"),
    ("[plot]\nlogy = 1", "plot.logy: expected true or false"),
    ("[extra]\nx = 1", "extra: unknown field"),
]


def _merge(override: str) -> str:
    """SMALL with the tables of `override` merged in (a schedule replaces lr)."""
    base, extra = tomllib.loads(SMALL), tomllib.loads(override)
    for table, fields in extra.items():
        base.setdefault(table, {}).update(fields)
    if "schedule" in extra.get("optimizer", {}):
        base["optimizer"].pop("lr")
    lines = [f"family = {json.dumps(base.pop('family'))}"]
    for table, fields in base.items():
        lines.append(f"[{table}]")
        lines += [f"{key} = {_toml(value)}" for key, value in fields.items()]
    return "\n".join(lines)


def _toml(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


@pytest.mark.parametrize("override, message", BAD)
def test_bad_config_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, override, message):
    cfg = _write(tmp_path, _merge(override))
    out = tmp_path / "out"
    assert main(["compare", cfg, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hild: error: ") and err.count("\n") == 1
    assert message in err, err
    assert not out.exists()


def test_invalid_toml_and_missing_file(tmp_path, capsys):
    assert main(["predict", _write(tmp_path, "family = "), "-o", str(tmp_path / "o")]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "nope.toml"), "-o", str(tmp_path / "o")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_help_documents_every_field(capsys):
    """`hild compare --help` shows the default config: every field on its own line, documented
    by a comment on that line or in the comment block just above it."""
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    lines = capsys.readouterr().out.splitlines()
    for field in ("spectrum", "teacher", "noise", "lr", "batch", "momentum", "schedule",
                  "t", "num_points", "spacing", "method", "seeds", "key", "dtype", "save_state",
                  "logy", "logx", "max_seeds", "engine", "objective", "budget"):
        rows = [i for i, line in enumerate(lines) if re.match(rf"^#? ?{field} = ", line)]
        assert rows, field
        i = rows[0]
        assert re.search(r"#\s*\S", lines[i].split("=", 1)[1]) or lines[i - 1].startswith("#"), field


def test_example_lists_families(capsys):
    assert main(["example", "--list"]) == 0
    assert "linreg" in capsys.readouterr().out.split()
    assert main(["example", "linreg"]) == 0
    assert 'family = "linreg"' in capsys.readouterr().out
