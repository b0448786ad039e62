"""The `hild` command line: predict, simulate, compare, bench, example."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import sys
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

from theory import SGD, ConfigError, Curve, predict, schedules
from theory._io import atomic_write, atomic_write_text

from . import config as config_mod
from . import tune as tune_mod
from . import tune_figures
from .agreement import agreement
from .bench import BENCHES
from .overlay import overlay
from .progress import ProgressBar

EXIT_USAGE = 2
AGREEMENT_CHECKPOINTS = 10  # z at a handful of points, not hundreds of correlated ones (THEORY.md §0)

DESCRIPTION = """\
hild predicts learning curves of SGD-type algorithms in high dimensions from deterministic
equations (no training), simulates the same problem at finite d, and overlays the two.

Each run command reads a TOML config (or, with none given, an embedded default example of
the family chosen by --family), validates every field, runs, and writes to -o DIR:
  predict   theory.csv/.json (+ theory.state.npz) and theory.png
  simulate  simulation.csv/.json (+ .state.npz) and simulation.png
  compare   both, overlay.png and agreement.json (max |z|, max relative deviation)
  tune      hyperparameters from theory ([tune] table), the choice simulated
Files are written atomically. A bad config prints one line naming the field and exits 2.
"""


def _config_help() -> str:
    return ("config fields (the embedded default of the least-squares family; "
            "`hild example FAMILY` prints another family's):\n\n"
            + config_mod.default_text("linreg"))


def _write_figure(fig, path: Path) -> Path:
    return atomic_write(path, lambda f: fig.savefig(f, format="png"), binary=True)


def _copy_config(job: config_mod.Job, out: Path) -> None:
    if job.source.startswith("embedded default"):
        text = config_mod.default_text(job.family)
    else:
        src = Path(job.source)
        if src.resolve().parent == out.resolve() and src.name == "config.used.toml":
            return
        text = src.read_text()
    atomic_write_text(out / "config.used.toml", text)


def _run_theory(job: config_mod.Job) -> Curve:
    try:
        return predict(job.problem, job.optimizer, **job.horizon, **job.theory)
    except (TypeError, ValueError) as err:  # an option the family does not take or allow
        raise ConfigError(f"theory: {err}") from None


def _run_simulation(job: config_mod.Job) -> Curve:
    from simulate import simulate

    bar = ProgressBar(f"simulating {job.simulation['seeds']} seeds")
    try:
        return simulate(job.problem, job.optimizer, **job.horizon, **job.simulation, progress=bar)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"simulation: {err}") from None
    finally:
        bar.close()


def _summary(name: str, curve: Curve) -> str:
    final = curve.mean()[-1]
    div = curve.diverged
    if curve.is_simulation:
        n = int(sum(bool(x) for x in div.tolist()))
        status = f", {n}/{curve.seeds} seeds diverged" if n else ""
    else:
        status = f", DIVERGED at step {int(curve.diverged_step)}" if bool(div) else ""
    return f"{name}: risk {float(curve.mean()[0]):.4g} -> {final:.4g} at t = {float(curve.t[-1]):.4g}{status}"


def cmd_run(args) -> int:
    job = config_mod.load(args.config, args.family)
    out = Path(args.output)
    theory_curve = sim_curve = None
    if args.command in ("predict", "compare"):
        theory_curve = _run_theory(job)
        print(_summary("theory", theory_curve))
    if args.command in ("simulate", "compare"):
        sim_curve = _run_simulation(job)
        print(_summary("simulation", sim_curve))
    report = None
    if theory_curve is not None and sim_curve is not None:
        report = agreement(theory_curve, sim_curve, checkpoints=AGREEMENT_CHECKPOINTS)
        print(f"agreement: {report}")
    # everything ran: now write, each file atomically
    out.mkdir(parents=True, exist_ok=True)
    written = []
    plot = job.plot
    if theory_curve is not None:
        written += theory_curve.save(out / "theory")
    if sim_curve is not None:
        written += sim_curve.save(out / "simulation")
    if args.command == "compare":
        fig = overlay(theory_curve, sim_curve, logy=plot["logy"], logx=plot["logx"],
                      max_seeds=plot["max_seeds"])
        written.append(_write_figure(fig, out / "overlay.png"))
        written.append(atomic_write_text(out / "agreement.json", json.dumps(report.to_dict(), indent=2)))
    else:
        fig = overlay(theory_curve, sim_curve, logy=plot["logy"], logx=plot["logx"],
                      max_seeds=plot["max_seeds"])
        name = "theory.png" if args.command == "predict" else "simulation.png"
        written.append(_write_figure(fig, out / name))
    _copy_config(job, out)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _tune_optimizer(job: config_mod.Job):
    """The optimizer to tune and the paths: a gradient run over `schedule_pieces` optimises
    a piecewise-constant schedule on [0, budget] that starts flat at the config's lr."""
    tune_cfg, opt = job.tune, job.optimizer
    space = tune_cfg["space"]
    pieces = tune_cfg.get("schedule_pieces", 0)
    if tune_cfg["engine"] == "gradient" and pieces:
        if callable(opt.lr):
            raise ConfigError("tune.gradient.schedule_pieces: start from a constant optimizer.lr, "
                              "not a schedule")
        flat = schedules.piecewise_constant(np.full(pieces, float(opt.lr)), t_max=tune_cfg["budget"])
        opt = eqx.tree_at(lambda o: o.lr, opt, flat)
        space = ["lr.values"] + [p for p in space if p != "lr.values"]
    return opt, space


def cmd_tune(args) -> int:
    job = config_mod.load(args.config, args.family)
    if job.tune is None:
        raise ConfigError("tune: missing table [tune] (see `hild example`)")
    cfg = job.tune
    start, space = _tune_optimizer(job)
    bar = ProgressBar(f"tuning ({cfg['engine']})")
    try:
        result = tune_mod.tune(job.problem, start, space, cfg["budget"], objective=cfg["objective"],
                               target=cfg.get("target"), engine=cfg["engine"],
                               num_points=cfg["num_points"], key=cfg.get("key"),
                               num_random=cfg.get("num_random", 256),
                               iterations=cfg.get("iterations", 200),
                               learning_rate=cfg.get("learning_rate", 0.05), progress=bar,
                               **job.theory)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"tune: {err}") from None
    finally:
        bar.close()
    print(f"chosen: {result.best.describe()}  ({cfg['objective']} = {result.best_value:.4g} "
          f"at budget t = {cfg['budget']:g}, theory)")
    horizon = {"t": cfg["budget"], "num_points": cfg["num_points"]}
    chosen_job = dataclasses.replace(job, optimizer=result.best, horizon=horizon)
    theory_curve = _run_theory(chosen_job)
    sim_curve = _run_simulation(chosen_job)
    report = agreement(theory_curve, sim_curve, checkpoints=AGREEMENT_CHECKPOINTS)
    print(f"simulation of the choice: {_summary('simulation', sim_curve)}")
    print(f"agreement: {report}")

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    header, rows = result.table()
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header] + rows)
    written = [atomic_write_text(out / "candidates.csv", buf.getvalue())]
    chosen = {k: v for k, v in job.raw.items() if k not in ("tune", "horizon", "optimizer")}
    chosen["optimizer"] = result.best.to_config()
    chosen["horizon"] = horizon
    written.append(atomic_write_text(out / "chosen.toml", config_mod.dumps(chosen)))
    summary = {"engine": cfg["engine"], "objective": cfg["objective"], "budget": cfg["budget"],
               "best_value": result.best_value, "chosen": result.best.to_config(),
               "candidates": len(rows), "agreement": report.to_dict()}
    written.append(atomic_write_text(out / "tune.json", json.dumps(summary, indent=2)))
    axes = tune_figures.diagram_axes(result)
    if axes is not None:
        x, y = axes
        critical = (tune_figures.analytic_critical_lr(job.problem, np.unique(result.candidates[y]))
                    if (x, y) == ("lr", "batch") else None)
        fig = tune_figures.phase_diagram(result, x=x, y=y, critical=critical,
                                         title=job.problem.describe())
        written.append(_write_figure(fig, out / "phase_diagram.png"))
    if cfg["engine"] == "gradient" and isinstance(result.best, SGD):
        fig = tune_figures.schedule_figure({"start": start, "chosen": result.best}, cfg["budget"])
        written.append(_write_figure(fig, out / "schedule.png"))
    fig = overlay(theory_curve, sim_curve, logy=job.plot["logy"], logx=job.plot["logx"],
                  max_seeds=job.plot["max_seeds"])
    written.append(_write_figure(fig, out / "overlay.png"))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def cmd_bench(args) -> int:
    result = BENCHES[args.family](quick=args.quick, progress=lambda m: print(f"  {m}", file=sys.stderr))
    for key, value in result["seconds"].items():
        print(f"{key:>22}: {value:10.4f} s")
    for key, value in result["ratios"].items():
        print(f"{key:>32}: {value:10.1f}")
    if "grid" in result:
        g = result["grid"]
        print(f"{g['points']}-point grid in one vmapped call: {g['grid_seconds']:.3f} s = "
              f"{g['grid_over_one_curve']:.0f} x one curve ({g['one_curve_seconds'] * 1e3:.2f} ms)")
    if args.output:
        path = atomic_write_text(Path(args.output) / f"bench_{args.family}.json", json.dumps(result, indent=2))
        print(f"wrote {path}")
    return 0


def cmd_example(args) -> int:
    if args.list:
        print("\n".join(config_mod.default_families()))
        return 0
    print(config_mod.default_text(args.family), end="")
    return 0


TUNE_DESCRIPTION = ("hild tune: choose hyperparameters from theory ([tune] table), then simulate "
                    "the choice. Writes candidates.csv, chosen.toml (ready for `hild simulate`), "
                    "tune.json, overlay.png, and phase_diagram.png (two-axis grids) or "
                    "schedule.png (gradient engine).")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hild", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands = [("predict", "theory curve", "hild predict: theory curve.", cmd_run),
                ("simulate", "finite-d simulation", "hild simulate: finite-d simulation.", cmd_run),
                ("compare", "theory, simulation, overlay and agreement",
                 "hild compare: theory, simulation, overlay and agreement.", cmd_run),
                ("tune", "hyperparameters from theory, confirmed by simulation", TUNE_DESCRIPTION,
                 cmd_tune)]
    for name, what, description, func in commands:
        p = sub.add_parser(name, help=what, description=description, epilog=_config_help(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("config", nargs="?", help="TOML config (default: the embedded example)")
        p.add_argument("-o", "--output", default="hild-out", help="output folder (default: hild-out)")
        p.add_argument("--family", default="linreg",
                       help="family of the embedded example when no config is given (default: linreg)")
        p.set_defaults(func=func)
    p = sub.add_parser("bench", help="timings: theory vs simulation, sweeps vs one curve")
    p.add_argument("family", choices=sorted(BENCHES))
    p.add_argument("-o", "--output", help="folder for bench_<family>.json")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    p.set_defaults(func=cmd_bench)
    p = sub.add_parser("example", help="print a family's embedded default config")
    p.add_argument("family", nargs="?", default="linreg")
    p.add_argument("--list", action="store_true", help="list the families with a default")
    p.set_defaults(func=cmd_example)
    return parser


def main(argv: list[str] | None = None) -> int:
    jax.config.update("jax_enable_x64", True)  # theory runs in float64 (the application's choice)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as err:
        print(f"hild: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
