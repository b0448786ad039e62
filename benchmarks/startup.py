"""Start-up of the `hild` command: `hild --help`, `hild --version`, `hild example` (and
`--list`) and `hild predict --family committee` (empty compilation cache, and cached) against
a bare Python and a bare `import jax`, best of N fresh processes each, measured in one run.

    python benchmarks/startup.py [--runs 7] [--predict-runs 3] [-o benchmarks/startup.json]

`hild --help` and `--version` parse their arguments before anything heavy is imported (the
target: <= 0.5 s on the 2-core machine of this project); the ratio to `import jax` is what
carries over between machines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = os.path.join(tempfile.gettempdir(), "hild-startup-cache")
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import jax'": [sys.executable, "-c", "import jax"],
    "hild --help": [sys.executable, "-m", "hild", "--help"],
    "hild --version": [sys.executable, "-m", "hild", "--version"],
    "hild example linreg": [sys.executable, "-m", "hild", "example", "linreg"],
    "hild example --list": [sys.executable, "-m", "hild", "example", "--list"],
    "python -c 'import hild'": [sys.executable, "-c", "import hild"],
}


PREDICT = [sys.executable, "-m", "hild", "predict", "--family", "committee", "-q"]


def best_of(command: list[str], runs: int, fresh_cache: bool = False) -> float:
    """Best wall time of `runs` fresh processes (`fresh_cache`: each with an empty
    compilation cache; otherwise the cache of `CACHE`, warmed by a first run)."""
    best = float("inf")
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as scratch:
            env = {**os.environ, "HILD_CACHE_DIR": os.path.join(scratch, "cache") if fresh_cache
                   else CACHE}
            out = ["-o", os.path.join(scratch, "out")] if command[3:4] == ["predict"] else []
            start = time.perf_counter()
            subprocess.run(command + out, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=env)
            best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--predict-runs", type=int, default=3)
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args()
    console = shutil.which("hild")
    commands = dict(COMMANDS)
    if console:
        commands["hild --help (console script)"] = [console, "--help"]
    seconds = {}
    best_of(PREDICT, 1)  # warm the cache of the cached runs
    for _ in range(2):  # interleaved rounds: a noisy machine slows all commands alike
        for name, command in commands.items():
            seconds[name] = min(seconds.get(name, float("inf")), best_of(command, args.runs))
        for name, fresh in (("hild predict committee (empty cache)", True),
                            ("hild predict committee (cached)", False)):
            seconds[name] = min(seconds.get(name, float("inf")),
                                best_of(PREDICT, args.predict_runs, fresh_cache=fresh))
    jax_s = seconds["python -c 'import jax'"]
    for name, s in seconds.items():
        print(f"{name:>32}: {s:6.3f} s = {s / jax_s:5.2f} x import jax")
    if args.output:
        ratios = {name: s / jax_s for name, s in seconds.items()}
        args.output.write_text(json.dumps({"seconds": seconds, "over_import_jax": ratios,
                                           "runs": args.runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
