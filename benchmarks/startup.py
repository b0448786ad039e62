"""Start-up of the `hild` command: `hild --help`, `hild --version` and `hild example` against a
bare Python and a bare `import jax`, best of N fresh processes each, measured in one run.

    python benchmarks/startup.py [--runs 7] [-o benchmarks/startup.json]

`hild --help` and `--version` parse their arguments before anything heavy is imported (the
target: <= 0.5 s on the 2-core machine of this project); the ratio to `import jax` is what
carries over between machines.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import jax'": [sys.executable, "-c", "import jax"],
    "hild --help": [sys.executable, "-m", "hild", "--help"],
    "hild --version": [sys.executable, "-m", "hild", "--version"],
    "hild example linreg": [sys.executable, "-m", "hild", "example", "linreg"],
    "python -c 'import hild'": [sys.executable, "-c", "import hild"],
}


def best_of(command: list[str], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args()
    console = shutil.which("hild")
    commands = dict(COMMANDS)
    if console:
        commands["hild --help (console script)"] = [console, "--help"]
    seconds = {}
    for _ in range(2):  # interleaved rounds: a noisy machine slows all commands alike
        for name, command in commands.items():
            seconds[name] = min(seconds.get(name, float("inf")), best_of(command, args.runs))
    jax_s = seconds["python -c 'import jax'"]
    for name, s in seconds.items():
        print(f"{name:>32}: {s:6.3f} s = {s / jax_s:5.2f} x import jax")
    if args.output:
        args.output.write_text(json.dumps({"seconds": seconds, "runs": args.runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
