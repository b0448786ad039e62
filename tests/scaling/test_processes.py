"""Several hosts, for real on one machine (docs/scaling-out.md): two processes joined by
jax.distributed on 127.0.0.1 (CPU backend, gloo collectives) run `hild simulate
--distributed`; process 0 writes, and its CSV equals the single-process one byte for byte."""

import os
import socket
import subprocess
import sys
from pathlib import Path

from hild.compare import config as config_mod
from hild.simulate import simulate

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """family = "linreg"
[problem]
spectrum = { kind = "power_law", d = 16, alpha = 1.5 }
teacher = { kind = "power_law", beta = 1.2 }
noise = 0.1
[optimizer]
lr = 0.8
batch = 2
[horizon]
t = 1.0
num_points = 4
[simulation]
seeds = 5
key = 7
save_state = false
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "two"
    env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_NUM_PROCESSES="2",
               JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{_free_port()}")
    env.pop("XLA_FLAGS", None)
    command = [sys.executable, "-m", "hild", "simulate", str(cfg), "--distributed",
               "-o", str(out)]
    procs = [subprocess.Popen(command, cwd=ROOT, env=dict(env, JAX_PROCESS_ID=str(i)),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    assert "process 1 of 2" in logs[1] and "wrote" in logs[0] and "wrote" not in logs[1]

    job = config_mod.load(cfg)
    simulate(job.problem, job.optimizer, **job.horizon, **job.simulation).save(tmp_path / "one")
    assert (out / "simulation.csv").read_text() == (tmp_path / "one.csv").read_text()


def test_bad_environment_is_a_config_error(tmp_path):
    from hild.compare.cli import main

    os.environ["JAX_PROCESS_ID"] = "one"
    try:
        assert main(["simulate", "--distributed", "-o", str(tmp_path)]) == 2
    finally:
        del os.environ["JAX_PROCESS_ID"]
    assert not any(tmp_path.iterdir())
