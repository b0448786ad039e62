"""Progress of long runs (compare/progress.py): plain log lines off a terminal, a tqdm bar on
one, nothing with --quiet, and never a NaN ETA."""

import io
import json
import re
import time

from hild.compare.cli import main
from hild.compare.progress import Progress, duration

SIMULATE = """
family = "single_index"
[problem]
link = "linear"
noise = 0.2
[optimizer]
lr = 0.5
[horizon]
t = 1.0
num_points = 3
[simulation]
d = 40
seeds = 3
key = 1
"""


def test_log_lines_off_a_terminal_carry_elapsed_done_total_and_eta():
    stream = io.StringIO()
    with Progress("simulating 3 seeds", stream=stream, every=0.05) as progress:
        time.sleep(0.12)  # nothing reported yet (compiling): heartbeat lines anyway
        progress(0, 100)
        time.sleep(0.02)
        progress(40, 100)
        time.sleep(0.08)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "simulating 3 seeds: started"
    assert "ETA unknown" in lines[1] and "elapsed" in lines[1]
    assert re.search(r"40/100 steps \(40%\), ETA \d+\.\d s", stream.getvalue())
    assert lines[-1].startswith("simulating 3 seeds: finished in ") and lines[-1].endswith("100/100 steps")
    assert "nan" not in stream.getvalue().lower()


def test_eta_is_unknown_until_two_reports_and_never_nan():
    progress = Progress("x", stream=io.StringIO(), every=60)
    assert progress.eta() is None and "ETA unknown" in progress.line()
    progress(0, 10)
    assert progress.eta() is None and "ETA unknown" in progress.line()
    time.sleep(0.01)
    progress(5, 10)
    assert 0 < progress.eta() < 60
    progress.close()


def test_terminal_gets_a_tqdm_bar_and_quiet_gets_nothing():
    stream = io.StringIO()
    with Progress("bar", stream=stream, terminal=True) as progress:
        progress(0, 8)
        progress(8, 8)
    assert "8/8" in stream.getvalue() and "\r" in stream.getvalue()
    quiet = io.StringIO()
    with Progress("bar", stream=quiet, quiet=True) as progress:
        progress(3, 8)
    assert quiet.getvalue() == ""


def test_duration_reads_as_minutes_and_hours():
    assert duration(42.04) == "42.0 s" and duration(185) == "3 min 05 s"
    assert duration(3720) == "1 h 02 min"


def test_cli_simulation_logs_its_progress_off_a_terminal(tmp_path, capsys, monkeypatch):
    """The CLI hands the simulation a Progress (a stand-in simulation reports two steps),
    and none with --quiet."""
    from hild.compare import commands

    calls = []

    def fake(*args, progress=None, **kwargs):
        calls.append(progress)
        if progress is not None:
            progress(0, 40)
            progress(40, 40)
        return "curve"

    monkeypatch.setattr(commands, "simulate", fake)
    cfg = tmp_path / "run.toml"
    cfg.write_text(SIMULATE)
    job = commands.config_mod.load(str(cfg), None)
    assert commands._run_simulation(job) == "curve"
    err = capsys.readouterr().err  # captured: not a terminal
    assert err.startswith("simulating 3 seeds: started\n")
    assert "simulating 3 seeds: finished in " in err and err.endswith("40/40 steps\n")
    assert commands._run_simulation(job, quiet=True) == "curve"
    assert capsys.readouterr().err == "" and calls[-1] is None  # quiet: no callback at all


def test_cli_compare_scores_every_observable(tmp_path, capsys):
    """The summary has the alignment's max |z| and relative deviation, which agreement.json
    gives as numbers although the theory's alignment starts at 0; --quiet: nothing on stderr."""
    cfg = tmp_path / "run.toml"
    cfg.write_text(SIMULATE)
    assert main(["compare", str(cfg), "-o", str(tmp_path / "a"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert re.search(r"agreement of alignment: max \|z\| = [\d.]+ at t = [\d.]+; max relative "
                     r"deviation = [\d.]+% at t = ", captured.out), captured.out
    report = json.loads((tmp_path / "a" / "agreement.json").read_text())
    alignment = report["observables"]["alignment"]
    assert alignment["max_rel_deviation"] is not None and alignment["max_abs_z"] is not None
