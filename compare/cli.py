"""The `hild` command line: predict, simulate, compare, bench, example."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import sys
from pathlib import Path

import jax
import numpy as np

from simulate import simulate
from theory import DEFAULT_FAMILY, ConfigError, Curve, predict
from theory._io import atomic_write, atomic_write_text

from . import bench as bench_mod
from . import bench_devices
from . import config as config_mod
from . import distributed
from . import tune as tune_mod
from . import tune_figures
from .agreement import agreement
from .overlay import overlay
from .progress import ProgressBar

EXIT_USAGE = 2
AGREEMENT_CHECKPOINTS = 10  # z at a handful of points, not hundreds of correlated ones

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
    return (f"config fields (the embedded default of the {DEFAULT_FAMILY} family; "
            "`hild example FAMILY` prints another family's):\n\n"
            + config_mod.default_text(DEFAULT_FAMILY))


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
        step, t = int(curve.diverged_step), float(curve.diverged_t)
        when = f"step {step} (t = {t:.4g})" if step >= 0 else f"t = {t:.4g}"
        status = f", DIVERGED at {when}" if bool(div) else ""
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
    reports = {}
    if theory_curve is not None and sim_curve is not None:
        for name in _observables(theory_curve):
            reports[name] = agreement(theory_curve, sim_curve, checkpoints=AGREEMENT_CHECKPOINTS,
                                      observable=name)
        print(f"agreement: {reports['risk']}")
    if not distributed.is_writer():  # several processes: process 0 writes
        return 0
    # everything ran: now write, each file atomically
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if theory_curve is not None:
        written += theory_curve.save(out / "theory")
    if sim_curve is not None:
        written += sim_curve.save(out / "simulation")
    base = {"compare": "overlay", "predict": "theory", "simulate": "simulation"}[args.command]
    for name in _observables(theory_curve or sim_curve):
        fig = overlay(theory_curve, sim_curve, logy=job.plot["logy"], logx=job.plot["logx"],
                      max_seeds=job.plot["max_seeds"], observable=name)
        suffix = "" if name == "risk" else f"_{name}"
        written.append(_write_figure(fig, out / f"{base}{suffix}.png"))
    if reports:
        summary = reports["risk"].to_dict()
        if len(reports) > 1:
            summary["observables"] = {n: r.to_dict() for n, r in reports.items() if n != "risk"}
        written.append(atomic_write_text(out / "agreement.json", json.dumps(summary, indent=2)))
    _copy_config(job, out)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _observables(curve: Curve) -> list[str]:
    return ["risk", *curve.observables]


def _tune_optimizer(job: config_mod.Job):
    """The optimizer to tune: with `schedule_pieces`, its rate replaced by a flat
    piecewise-constant schedule on [0, budget] (the config already checked that it can)."""
    tune_cfg, opt = job.tune, job.optimizer
    pieces = tune_cfg.get("schedule_pieces", 0)
    if tune_cfg["engine"] == "gradient" and pieces:
        opt, _ = opt.piecewise_schedule(pieces, tune_cfg["budget"])
    return opt, tune_cfg["space"]


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

    if not distributed.is_writer():  # several processes: process 0 writes
        return 0
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
        critical = (tune_figures.critical_line(job.problem, result.best, y,
                                               np.unique(result.candidates[y]))
                    if axes == type(result.best).diagram_axes else None)
        fig = tune_figures.phase_diagram(result, x=x, y=y, critical=critical,
                                         title=job.problem.describe())
        written.append(_write_figure(fig, out / "phase_diagram.png"))
    if cfg["engine"] == "gradient" and cfg.get("schedule_pieces"):
        fig = tune_figures.schedule_figure({"start": start, "chosen": result.best}, cfg["budget"])
        written.append(_write_figure(fig, out / "schedule.png"))
    fig = overlay(theory_curve, sim_curve, logy=job.plot["logy"], logx=job.plot["logx"],
                  max_seeds=job.plot["max_seeds"])
    written.append(_write_figure(fig, out / "overlay.png"))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def cmd_bench(args) -> int:
    result = bench_mod.bench(args.family, quick=args.quick,
                             progress=lambda m: print(f"  {m}", file=sys.stderr))
    for key, value in result["seconds"].items():
        print(f"{key:>32}: {value:10.4f} s")
    for key, value in result["ratios"].items():
        print(f"{key:>32}: {value:10.1f}")
    g = result["grid"]
    print(f"{g['points']}-point grid in one vmapped call: {g['grid_seconds']:.3f} s = "
          f"{g['grid_over_one_curve']:.0f} x one curve ({g['one_curve_seconds'] * 1e3:.2f} ms)")
    if "chunked_grid_seconds" in g:
        print(f"  in chunks of {bench_mod.SWEEP_CHUNK}: {g['chunked_grid_seconds']:.3f} s = "
              f"{g['chunked_grid_over_one_curve']:.0f} x one curve")
    for line in bench_devices.report_lines(result["devices"]):  # scale-out
        print(line)
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
        p.add_argument("--family", default=DEFAULT_FAMILY,
                       help=f"family of the embedded example when no config is given "
                            f"(default: {DEFAULT_FAMILY})")
        distributed.add_flag(p)
        p.set_defaults(func=func)
    p = sub.add_parser("bench", help="timings: theory vs simulation, sweeps vs one curve")
    p.add_argument("family", choices=bench_mod.families())
    p.add_argument("-o", "--output", help="folder for bench_<family>.json")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    p.set_defaults(func=cmd_bench)
    p = sub.add_parser("example", help="print a family's embedded default config")
    p.add_argument("family", nargs="?", default=DEFAULT_FAMILY)
    p.add_argument("--list", action="store_true", help="list the families with a default")
    p.set_defaults(func=cmd_example)
    return parser


def main(argv: list[str] | None = None) -> int:
    jax.config.update("jax_enable_x64", True)  # theory runs in float64 (the application's choice)
    args = build_parser().parse_args(argv)
    try:
        distributed.start(args)
        return args.func(args)
    except ConfigError as err:
        print(f"hild: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
