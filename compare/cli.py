"""The `hild` command line: its arguments, parsed before anything heavy is imported
(`hild --help` and `hild --version` load no JAX); the commands themselves are
`hild.compare.commands`."""

from __future__ import annotations

import argparse
import sys

from hild.theory.fields import ConfigError

from . import distributed, examples

EXIT_USAGE = 2

DESCRIPTION = """\
hild predicts learning curves of SGD-type algorithms in high dimensions from deterministic
equations (no training), simulates the same problem at finite d, and overlays the two.

Each run command reads a TOML config (or, with none given, an embedded default example of
the family chosen by --family), validates every field, runs, and writes to -o DIR:
  predict   theory.csv/.json (+ theory.state.npz) and theory.png
  simulate  simulation.csv (seed mean, stderr), .seeds.csv (every seed), .json (+ .state.npz)
            and simulation.png; the CSVs are long: one row per observable and point
  compare   both, overlay.png and agreement.json (max |z|, max relative deviation)
  tune      hyperparameters from theory ([tune] table), the choice simulated
  scaling   compute-optimal scaling law ([scaling] table): frontier.csv/.png, scaling.json
The output folder is replaced as a whole set (never a mix of two runs; a folder holding
files hild did not write is refused). Exit codes: 0 done (also when a run diverged: that
is a result, marked in every output), 2 bad input (one line naming the field, before
anything runs), 130/143 interrupted by SIGINT/SIGTERM (previous outputs intact).
"""


def _version() -> str:
    from hild import __version__

    return __version__


def _config_help() -> str:
    return (f"config fields (the embedded default of the {examples.DEFAULT_FAMILY} family; "
            "`hild example FAMILY` prints another family's):\n\n"
            + examples.default_text(examples.DEFAULT_FAMILY))


TUNE_DESCRIPTION = ("hild tune: choose hyperparameters from theory ([tune] table), then simulate "
                    "the choice. Writes candidates.csv, chosen.toml (ready for `hild simulate`), "
                    "tune.json, overlay.png, and phase_diagram.png (two-axis grids) or "
                    "schedule.png (gradient engine).")


def build_parser() -> argparse.ArgumentParser:
    """The `hild` argument parser: one subcommand per job (README, Command line)."""
    parser = argparse.ArgumentParser(prog="hild", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"hild {_version()}")
    parser.add_argument("--no-cache", action="store_true",
                        help="do not use the compilation cache (default: on, in $HILD_CACHE_DIR "
                             "or ~/.cache/hild/jax; HILD_CACHE_DIR=off also turns it off)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands = [("predict", "theory curve", "hild predict: theory curve.", "cmd_run"),
                ("simulate", "finite-d simulation", "hild simulate: finite-d simulation.", "cmd_run"),
                ("compare", "theory, simulation, overlay and agreement",
                 "hild compare: theory, simulation, overlay and agreement.", "cmd_run"),
                ("tune", "hyperparameters from theory, confirmed by simulation", TUNE_DESCRIPTION,
                 "cmd_tune"),
                ("scaling", "compute-optimal scaling law from theory, simulated at small sizes",
                 "hild scaling: the loss of every model size at every compute budget f = d × "
                 "samples from theory ([scaling] table), the compute-optimal frontier d*(f) and "
                 "its exponents against the family's predicted ones, simulations at the sizes "
                 "in `simulate`. Writes frontier.csv, frontier.png and scaling.json.", "cmd_scaling")]
    epilog = _config_help()
    for name, what, description, func in commands:
        p = sub.add_parser(name, help=what, description=description, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("config", nargs="?", help="TOML config (default: the embedded example)")
        p.add_argument("-o", "--output", default="hild-out", help="output folder (default: hild-out)")
        default = ("the first family whose example has a [scaling] table" if name == "scaling"
                   else examples.DEFAULT_FAMILY)  # read only when `hild scaling` runs: not at start-up
        p.add_argument("--family", default=None if name == "scaling" else examples.DEFAULT_FAMILY,
                       help=f"family of the embedded example when no config is given "
                            f"(default: {default})")
        distributed.add_flag(p)
        _add_quiet(p)
        p.set_defaults(func=func)
    p = sub.add_parser("bench", help="timings: theory vs simulation, sweeps vs one curve")
    p.add_argument("family", help="a family with a bench case (hild's own, or an installed one)")
    p.add_argument("-o", "--output", help="folder for bench_<family>.json")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    _add_quiet(p)
    p.set_defaults(func="cmd_bench")
    p = sub.add_parser("example", help="print a family's embedded default config")
    p.add_argument("family", nargs="?", default=examples.DEFAULT_FAMILY)
    p.add_argument("--list", action="store_true",
                   help="list the families with a default, one line each")
    p.set_defaults(func="cmd_example")
    return parser


def _add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar or log lines on stderr (the results on stdout and "
                        "errors stay). Without it: a bar on a terminal, else a line every "
                        "15 s (elapsed, done/total, ETA)")


def cmd_example(args) -> int:
    """Print a family's example config, or list the families that have one (no JAX)."""
    if args.list:
        families = examples.default_families()
        width = max(map(len, families), default=0)
        for family in families:
            print(f"{family:<{width}}  {examples.description(family)}")
        return 0
    print(examples.default_text(args.family), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The `hild` command (`argv=None`: the process's own arguments). The console entry
    point (`hild.__main__.main`) also turns SIGINT/SIGTERM into a clean stop."""
    args = build_parser().parse_args(argv)
    try:
        if args.func == "cmd_example":
            return cmd_example(args)
        return _run(args)
    except ConfigError as err:
        print(f"hild: error: {err}", file=sys.stderr)
        return EXIT_USAGE


def _run(args) -> int:
    import jax

    from hild.theory import exported_programs, use_compilation_cache

    from . import commands

    jax.config.update("jax_enable_x64", True)  # theory runs in float64 (the application's choice)
    folder = None if args.no_cache else use_compilation_cache()
    distributed.start(args)
    with exported_programs(folder):  # a job run before skips tracing its theory
        return getattr(commands, args.func)(args)


if __name__ == "__main__":
    sys.exit(main())  # `hild` / `python -m hild` also watch interrupts from the first import
