"""The `hild` commands' bodies: predict, simulate, compare, tune, scaling, bench, example.

`hild.compare.cli` parses the arguments with nothing heavy imported and calls these; this
module imports JAX and the rest of hild.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
from pathlib import Path

import numpy as np

from hild.simulate import initial_states, plan_simulation, simulate
from hild.theory import ConfigError, Curve, has_theory, predict, theory_for
from hild.theory.atomic import atomic_write, atomic_write_text
from hild.theory.stability import rate_note

from . import bench as bench_mod
from . import bench_devices
from . import config as config_mod
from . import distributed, examples, frontier, interrupts, output, tune_figures
from . import tune as tune_mod
from .agreement import agreement
from .output import OutputFolder
from .overlay import overlay
from .per_seed import PER_SEED, per_seed_theory
from .progress import Progress, say

AGREEMENT_CHECKPOINTS = 10  # z at a handful of points, not hundreds of correlated ones


def _write_figure(fig, path: Path) -> Path:
    return atomic_write(path, lambda f: fig.savefig(f, format="png"), binary=True)


def _write_config(job: config_mod.Job, folder: Path) -> Path:
    return atomic_write_text(folder / "config.used.toml", job.text or config_mod.dumps(job.raw))


def _run_theory(job: config_mod.Job, method: str | None = None) -> Curve:
    """The theory curve (of `method`, default the config's); with `[theory] init =
    "per_seed"`, the mean of the curves run from the initial states of the [simulation]'s
    seeds (the same keys: `simulate.initial_states`)."""
    options = dict(job.theory) if method is None else {**job.theory, "method": method}
    try:
        if options.get("init") == PER_SEED:
            del options["init"]
            sim = {k: v for k, v in job.simulation.items() if k in ("d", "seeds", "key", "dtype", "prng")}
            states = initial_states(job.problem, **sim)
            return per_seed_theory(job.problem, job.optimizer, states, **job.horizon, **options)
        return predict(job.problem, job.optimizer, **job.horizon, **options)
    except (TypeError, ValueError) as err:  # an option the family does not take or allow
        raise ConfigError(f"theory: {err}") from None


def _theory_spread(job: config_mod.Job, sim_curve: Curve | None):
    """With `[plot] spread = true`: the linear-noise spread of one run at the simulation's d
    and times (docs/theory.md, Finite-d fluctuations), for a family that supplies it and a
    theory from the default start; else None (printed why)."""
    from hild.theory.fluctuations import fluctuations, has_fluctuations

    if sim_curve is None or not job.plot.get("spread"):
        return None
    if not has_fluctuations(job.problem) or job.theory.get("init") is not None:
        print(f"spread: not drawn ({job.problem.family} has no increment_covariance)"
              if not has_fluctuations(job.problem) else
              "spread: not drawn (the band is of runs from the family's default start; "
              "[theory] init is set)")
        return None
    try:
        spread = fluctuations(job.problem, job.optimizer, d=int(sim_curve.metadata["d"]),
                              save_at=np.asarray(sim_curve.t), method=job.theory.get("method"))
    except (TypeError, ValueError) as err:
        print(f"spread: not drawn ({err})")
        return None
    print(f"spread: theory band of one run at d = {spread.d} (linear-noise expansion)")
    return spread


def _spread_scores(sim_curve: Curve, spread) -> dict:
    """Measured / predicted std of runs per quantity (median over checkpoints, its SE)."""
    from hild.theory.fluctuations import spread_score

    out = {}
    for name in ["risk", *spread.observables]:
        try:
            out[name] = spread_score(sim_curve, spread, name).summary()
        except ValueError as err:
            out[name] = {"skipped": str(err)}
    return out


def _theory_choice(job: config_mod.Job) -> tuple[str | None, dict]:
    """The [theory] method and the family's own options (what `stability_limit` may take)."""
    names = type(job.problem).theory_options
    return job.theory.get("method"), {k: v for k, v in job.theory.items() if k in names}


def _print_rate_note(job: config_mod.Job, optimizer=None) -> None:
    """Before a run: one line when the rate is above the chosen theory's critical rate."""
    method, options = _theory_choice(job)
    try:
        note = rate_note(job.problem, job.optimizer if optimizer is None else optimizer,
                         method, **options)
    except (TypeError, ValueError):  # no theory of this pair: the run says so itself
        return
    if note:
        print(note)


def _no_theory(job: config_mod.Job) -> str:
    """Why the job's optimizer has no theory (the one line `theory_for` gives)."""
    try:
        theory_for(job.problem, job.optimizer)
    except TypeError as err:
        return str(err)
    raise AssertionError("the pair has a theory")


def _check_simulation(job: config_mod.Job) -> None:
    """The simulation's arguments and memory, checked before anything runs."""
    try:
        plan_simulation(job.problem, job.optimizer, **job.horizon, **job.simulation)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"simulation: {err}") from None


def _run_simulation(job: config_mod.Job, quiet: bool = False) -> Curve:
    """The simulation, with progress on stderr unless `quiet` (then without the progress
    callback, whose program JAX does not keep in its persistent cache: a quiet run reuses
    the compiled simulation of an earlier process)."""
    with Progress(f"simulating {job.simulation['seeds']} seeds", quiet=quiet) as bar:
        try:
            return simulate(job.problem, job.optimizer, **job.horizon, **job.simulation,
                            progress=None if quiet else bar)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"simulation: {err}") from None


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


def validate_run(job: config_mod.Job, command: str, output: str) -> OutputFolder:
    """Everything checked before a run computes: the output place, and for a simulation its
    arguments and memory (a prediction checks its own before it allocates)."""
    out = OutputFolder(output).check()
    if command != "predict":
        _check_simulation(job)
    return out


def cmd_run(args) -> int:
    """`hild predict | simulate | compare`: load the config, refuse bad input (exit 2), run, write
    the output folder as a set, print the summary line; exit code 0 also when a run diverged."""
    job = config_mod.load(args.config, args.family)
    out = validate_run(job, args.command, args.output)
    theory_curve = sim_curve = None
    references = []
    theory_wanted = args.command in ("predict", "compare")
    if theory_wanted and not has_theory(job.problem, job.optimizer):
        missing = _no_theory(job)
        if args.command == "predict":
            raise ConfigError(f"theory: {missing}")
        print(f"theory: {missing}; drawing the simulation alone")
        theory_wanted = False
    if theory_wanted or has_theory(job.problem, job.optimizer):
        _print_rate_note(job)
    if theory_wanted:
        theory_curve = _run_theory(job)
        print(_summary("theory", theory_curve))
        for method in job.reference_methods:
            references.append(_run_theory(job, method))
            print(_summary(f"theory ({method})", references[-1]))
    if args.command in ("simulate", "compare"):
        sim_curve = _run_simulation(job, args.quiet)
        print(_summary("simulation", sim_curve))
    reports = {}
    spread = _theory_spread(job, sim_curve) if theory_curve is not None else None
    if theory_curve is not None and sim_curve is not None:
        for name in _observables(theory_curve):
            reports[name] = agreement(theory_curve, sim_curve, checkpoints=AGREEMENT_CHECKPOINTS,
                                      observable=name)
        print(f"agreement: {reports['risk']}")
        for name in theory_curve.observables:
            print(f"agreement of {name}: {reports[name]}")
        for method, curve in zip(job.reference_methods, references):
            reports[f"method:{method}"] = agreement(curve, sim_curve,
                                                    checkpoints=AGREEMENT_CHECKPOINTS)
            print(f"agreement ({method}): {reports[f'method:{method}']}")
    if not distributed.is_writer():  # several processes: process 0 writes
        return 0
    with _staged(out) as folder:  # everything ran: now write the set
        if theory_curve is not None:
            theory_curve.save(folder / "theory")
        for method, curve in zip(job.reference_methods, references):
            curve.save(folder / f"theory_{method}")
        if sim_curve is not None:
            sim_curve.save(folder / "simulation")
        base = {"compare": "overlay", "predict": "theory", "simulate": "simulation"}[args.command]
        for name in _observables(theory_curve or sim_curve):
            fig = overlay(theory_curve, sim_curve, logy=job.plot["logy"], logx=job.plot["logx"],
                          max_seeds=job.plot["max_seeds"], observable=name,
                          references=references if name == "risk" else (),
                          **({"spread": spread} if spread is not None else {}))
            suffix = "" if name == "risk" else f"_{name}"
            _write_figure(fig, folder / f"{base}{suffix}.png")
        if reports:
            summary = reports["risk"].to_dict()
            observables = {n: r.to_dict() for n, r in reports.items()
                           if n != "risk" and not n.startswith("method:")}
            if observables:
                summary["observables"] = observables
            if job.reference_methods:
                summary["methods"] = {m: reports[f"method:{m}"].to_dict()
                                      for m in job.reference_methods}
            if spread is not None:
                summary["spread"] = _spread_scores(sim_curve, spread)
            atomic_write_text(folder / "agreement.json", json.dumps(summary, indent=2))
        _write_config(job, folder)
    return 0


@contextlib.contextmanager
def _staged(out: OutputFolder):
    """Write the output set into a staging folder, then swap it into place as a whole."""
    interrupts.ACTIVE.append(out)  # before staging: an interrupt then always discards it
    try:
        folder = out.stage()
        yield folder
        names = sorted(p.name for p in folder.iterdir() if p.name != output.MARKER)
        out.commit()
    except OSError as err:  # a write refused mid-run: one line (exit 2), the set discarded
        raise out.failed(err) from None
    finally:
        out.discard()
        interrupts.ACTIVE.remove(out)
    print(f"wrote {out.path}: {', '.join(names)}")


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
    """`hild tune`: hyperparameters from theory over the `[tune]` table, the choice simulated
    (compare/tune.py); exit code 0."""
    job = config_mod.load(args.config, args.family)
    if job.tune is None:
        raise ConfigError("tune: missing table [tune] (see `hild example`)")
    if job.theory.get("init") == PER_SEED:
        raise ConfigError('theory.init: "per_seed" is for hild predict/compare; hild tune needs '
                          "one initial state (give init = { ... } or omit it)")
    out = validate_run(job, "tune", args.output)
    cfg = job.tune
    start, space = _tune_optimizer(job)
    with Progress(f"tuning ({cfg['engine']})", unit="iterations", quiet=args.quiet) as bar:
        try:
            result = tune_mod.tune(job.problem, start, space, cfg["budget"],
                                   objective=cfg["objective"], target=cfg.get("target"),
                                   engine=cfg["engine"], num_points=cfg["num_points"],
                                   key=cfg.get("key"), num_random=cfg.get("num_random", 256),
                                   iterations=cfg.get("iterations", 200),
                                   learning_rate=cfg.get("learning_rate", 0.05), progress=bar,
                                   **job.theory)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"tune: {err}") from None
    print(f"chosen: {result.best.describe()}  ({cfg['objective']} = {result.best_value:.4g} "
          f"at budget t = {cfg['budget']:g}, theory)")
    horizon = {"t": cfg["budget"], "num_points": cfg["num_points"]}
    chosen_job = dataclasses.replace(job, optimizer=result.best, horizon=horizon)
    _print_rate_note(chosen_job)
    theory_curve = _run_theory(chosen_job)
    sim_curve = _run_simulation(chosen_job, args.quiet)
    report = agreement(theory_curve, sim_curve, checkpoints=AGREEMENT_CHECKPOINTS)
    print(f"simulation of the choice: {_summary('simulation', sim_curve)}")
    print(f"agreement: {report}")

    if not distributed.is_writer():  # several processes: process 0 writes
        return 0
    with _staged(out) as folder:
        _write_tune_outputs(folder, job, result, report, start, horizon, theory_curve, sim_curve)
    return 0


def _write_tune_outputs(folder: Path, job, result, report, start, horizon, theory_curve,
                        sim_curve) -> None:
    cfg = job.tune
    header, rows = result.table()
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header] + rows)
    atomic_write_text(folder / "candidates.csv", buf.getvalue())
    chosen = {k: v for k, v in job.raw.items() if k not in ("tune", "horizon", "optimizer")}
    chosen["optimizer"] = result.best.to_config()
    chosen["horizon"] = horizon
    atomic_write_text(folder / "chosen.toml", config_mod.dumps(chosen))
    summary = {"engine": cfg["engine"], "objective": cfg["objective"], "budget": cfg["budget"],
               "best_value": result.best_value, "chosen": result.best.to_config(),
               "candidates": len(rows), "agreement": report.to_dict()}
    atomic_write_text(folder / "tune.json", json.dumps(summary, indent=2))
    axes = tune_figures.diagram_axes(result)
    if axes is not None:
        x, y = axes
        method, options = _theory_choice(job)
        critical = (tune_figures.critical_line(job.problem, result.best, y,
                                               np.unique(result.candidates[y]), method, **options)
                    if axes == type(result.best).diagram_axes else None)
        fig = tune_figures.phase_diagram(result, x=x, y=y, critical=critical,
                                         title=job.problem.describe())
        _write_figure(fig, folder / "phase_diagram.png")
    if cfg["engine"] == "gradient" and cfg.get("schedule_pieces"):
        fig = tune_figures.schedule_figure({"start": start, "chosen": result.best}, cfg["budget"])
        _write_figure(fig, folder / "schedule.png")
    fig = overlay(theory_curve, sim_curve, logy=job.plot["logy"], logx=job.plot["logx"],
                  max_seeds=job.plot["max_seeds"])
    _write_figure(fig, folder / "overlay.png")
    _write_config(job, folder)


def cmd_scaling(args) -> int:
    """`hild scaling`: the compute-optimal frontier of the config's `[scaling]` table
    (compare/frontier.py; docs/theory.md, Power-law random features); exit code 0."""
    job = config_mod.load(args.config, args.family or _scaling_family())
    if job.scaling is None:
        raise ConfigError(f"scaling: missing table [scaling] (sizes, compute; see "
                          f"`hild example {_scaling_family()}`)")
    out = OutputFolder(args.output).check()
    cfg = job.scaling
    sim = {k: v for k, v in job.simulation.items() if k in ("seeds", "key", "dtype", "prng")}
    try:
        result = frontier.frontier(job.problem, job.optimizer, cfg["sizes"], cfg["compute"],
                                   method=job.theory.get("method"), replicas=cfg["replicas"],
                                   simulate_sizes=cfg["simulate"],
                                   simulate_compute_max=cfg["simulate_compute_max"], simulation=sim,
                                   progress=lambda m: say(f"  {m}", quiet=args.quiet))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"scaling: {err}") from None
    fit, predicted, summary = result.fit, result.predicted, result.summary()
    if "model_size" in fit:
        print(f"frontier: d* ∝ f^{fit['model_size']:.3f}, loss ∝ f^-{fit['loss']:.3f} "
              f"(fit over f in [{fit['window'][0]:.3g}, {fit['window'][1]:.3g}], {fit['points']} budgets)")
        spread = fit.get("draws", {})
        if "model_size_std" in spread:
            print(f"  single draws: d* exponent {spread['model_size_mean']:.3f} ± "
                  f"{spread['model_size_std']:.3f} (sd over {len(spread['model_size'])} draws)")
    else:
        print("frontier: d* is at an end of the size grid at almost every budget; widen "
              "[scaling] sizes or compute")
    if predicted and predicted.get("model_size") is not None:
        print(f"predicted (phase {predicted['phase']}): d* ∝ f^{predicted['model_size']:.3f}, "
              f"loss ∝ f^-{predicted['loss']:.3f}")
    elif predicted and predicted.get("not_covered"):
        print(f"predicted (phase {predicted['phase']}): not covered ({predicted['not_covered']})")
    if summary["diverged_sizes"]:
        print(f"diverged: the rate is unstable at d = {summary['diverged_sizes']} (left out of the "
              f"frontier; lower [optimizer] lr)")
    for d, stats in summary.get("simulation", {}).items():
        if stats["max_abs_z"] is None:
            print(f"simulation d = {d}: no budget compared (the runs or the theory diverged)")
        else:
            print(f"simulation d = {d}: max |z| = {stats['max_abs_z']:.2f} over {stats['points']} budgets")
    if not distributed.is_writer():
        return 0
    with _staged(out) as folder:
        header, rows = result.rows()
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([header] + rows)
        atomic_write_text(folder / "frontier.csv", buf.getvalue())
        atomic_write_text(folder / "scaling.json", json.dumps(summary, indent=2))
        _write_figure(result.figure(), folder / "frontier.png")
        _write_config(job, folder)
    return 0


def _scaling_family() -> str:
    """The first family whose embedded example has a [scaling] table (`hild scaling`'s default)."""
    for family in examples.default_families():
        if "\n[scaling]" in examples.default_text(family):
            return family
    return examples.DEFAULT_FAMILY


def cmd_bench(args) -> int:
    """`hild bench FAMILY`: time theory against simulation (compare/bench.py); exit code 0."""
    have = bench_mod.families()
    if args.family not in have:
        raise ConfigError(f"family: must be one of {', '.join(have)} (the families with a bench "
                          f"case; got {args.family!r})")
    out = OutputFolder(args.output).check(replace=False) if args.output is not None else None
    result = bench_mod.bench(args.family, quick=args.quick,
                             progress=lambda m: say(f"  {m}", quiet=args.quiet))
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
    print(_bench_references(result))
    for line in bench_devices.report_lines(result["devices"]):  # scale-out
        print(line)
    if out is not None:
        try:
            path = atomic_write_text(out.path / f"bench_{args.family}.json", json.dumps(result, indent=2))
        except OSError as err:  # refused after the check (disk full, folder removed): one line
            raise out.failed(err) from None
        print(f"wrote {path}")
    return 0


def _bench_references(result: dict) -> str:
    """The measurements that have a reference, each as a ratio next to it."""
    g, s, r = result["grid"], result["seconds"], result["ratios"]
    lines = [f"sweep throughput: {g['curves_per_second']:.0f} curves/s vmapped vs "
             f"{g['loop_curves_per_second']:.0f} curves/s in a Python loop = "
             f"{r['vmapped_sweep_over_python_loop_throughput']:.1f}x (reference: >= 3x)"]
    if "work_per_second" in g:
        lines.append(f"  {g['work_per_second']:.3g} {g['work_unit']}/s against a float64 peak of "
                     f"{g['float64_peak_flops']:.3g} FLOP/s (matmul, this run): "
                     f"{g['work_per_second_per_peak_flop']:.3g} {g['work_unit']} per peak FLOP")
    lines.append(f"simulation / sampling bound: {r['simulation_over_sampling_bound']:.2f}x "
                 f"(reference: <= 2x; bound {s['sampling_bound']:.3f} s)")
    for seeds, m in result["simulation_vs_sampling_bound_by_seeds"].items():
        lines.append(f"  {seeds:>3} seeds: {m['simulation_seconds']:.3f} s / "
                     f"{m['sampling_bound_seconds']:.3f} s = {m['ratio']:.2f}x (reference: <= 2x)")
    if "warm_default_predict" in s:
        lines.append(f"warm predict of the default config: {s['warm_default_predict'] * 1e3:.2f} ms "
                     f"(reference: <= 5 ms for the committee default)")
    cold = result["cold_start"]
    for kind, what in (("cli", "hild predict"), ("api", "theory.predict in a fresh process")):
        if cold:
            first, cached = cold["first_seconds"][kind], cold["cached_seconds"][kind]
            lines.append(f"cold start, {what}: {first:.2f} s empty cache = {first / 4:.2f} x 4 s; "
                         f"{cached:.2f} s cached = {cached / 1.5:.2f} x 1.5 s")
    return "\n".join(lines)
