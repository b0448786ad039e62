"""Fault test: `hild compare` killed by SIGINT or SIGTERM at random moments leaves the
complete previous output set or the complete new one, never a mix or a partial file."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time


CONFIG = """
family = "linreg"
[problem]
spectrum = {{ kind = "power_law", d = 20, alpha = 1.2 }}
[optimizer]
lr = 0.5
[horizon]
t = 2.0
num_points = 5
[simulation]
seeds = 3
key = {key}
"""


# SIGINT at its default in the child (pytest may ignore it), set by the child itself: no
# preexec_fn, whose fork() in this multithreaded JAX process is unsafe
LAUNCH = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
          "sys.argv = ['hild', *sys.argv[1:]]; runpy.run_module('hild', run_name='__main__')")


def _hild(cfg, out, env):
    return subprocess.Popen([sys.executable, "-c", LAUNCH, "compare", str(cfg), "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _snapshot(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_killed_runs_leave_one_complete_set(tmp_path):
    env = {**os.environ, "HILD_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "out"
    old_cfg, new_cfg = tmp_path / "old.toml", tmp_path / "new.toml"
    old_cfg.write_text(CONFIG.format(key=1))
    new_cfg.write_text(CONFIG.format(key=2))
    start = time.perf_counter()
    run = _hild(old_cfg, out, env)
    _, err = run.communicate(timeout=300)
    assert run.returncode == 0, err.decode()
    full = time.perf_counter() - start
    old = _snapshot(out)
    outcomes = []
    # early (still importing: the old set stays), two moments in the run, and after the end
    # (the run finished: its new set is in place)
    for i, (delay, sig) in enumerate(zip([0.05, 0.5, 0.9, 1.6], [signal.SIGINT, signal.SIGTERM] * 2)):
        new_cfg.write_text(CONFIG.format(key=10 + i))  # each run's set differs from the last
        run = _hild(new_cfg, out, env)
        time.sleep(delay * full)
        if run.poll() is None:
            run.send_signal(sig)
        _, err = run.communicate(timeout=300)
        assert run.returncode in (0, 128 + sig, -sig), (run.returncode, err.decode())
        now = _snapshot(out)
        if now == old:
            outcomes.append("old")
        else:  # the whole new set, each file complete
            assert set(now) == set(old), (set(now) ^ set(old))
            assert f"key = {10 + i}" in (out / "config.used.toml").read_text()
            json.loads((out / "agreement.json").read_text())
            assert (out / "overlay.png").read_bytes().endswith(b"IEND\xaeB`\x82")
            outcomes.append("new")
            old = now
        if run.returncode == 0:  # a run that finished has written its set
            assert outcomes[-1] == "new", outcomes
    assert outcomes[0] == "old", outcomes  # killed while importing: nothing written
    assert "new" in outcomes, outcomes  # the last run (at least) completed its set
    # a staging folder cut short between mkdtemp and its registration is removed by the next run
    run = _hild(new_cfg, out, env)
    run.communicate(timeout=300)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")]
    assert run.returncode == 0 and not leftovers, leftovers
