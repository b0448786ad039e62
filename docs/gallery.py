"""Make the README's gallery figures with hild's own functions: `python docs/gallery.py`.

Writes PNGs next to this file (atomically). Takes a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

import hild
from hild import compare
from hild import simulate
from hild import theory as th
from hild.compare import cli, tune
from hild.theory.atomic import atomic_write

HERE = Path(__file__).parent


def _save(fig: Figure, name: str) -> None:
    atomic_write(HERE / name, lambda f: fig.savefig(f, format="png"), binary=True)


def learning_rates_and_divergence() -> None:
    """Three constant learning rates around the critical one, theory vs 200 seeds."""
    spec = th.spectra.power_law(200, 1.5)
    problem = th.LinearRegression(spec, th.spectra.power_law_teacher(spec, 1.2), noise=0.2)
    eta_c = float(th.critical_lr(problem, 2))
    fig = Figure(figsize=(6.4, 4.4), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    for i, frac in enumerate((0.25, 0.7, 1.05)):
        opt = th.SGD(frac * eta_c, batch=2)
        curve = th.predict(problem, opt, t=30.0, num_points=60, spacing="log")
        sim = simulate.simulate(problem, opt, t=30.0, num_points=60, spacing="log", seeds=200,
                                key=i, save_state=False)
        hild.overlay(curve, sim, ax=ax, color=f"C{i}", logx=True, max_seeds=8,
                        label=f"η = {frac:g} η_c", title="")
    ax.set_title(f"{problem.describe()}, B = 2, critical η_c = {eta_c:.3f}\n"
                 "lines: exact recursion; dots and band: mean ± SE of 200 runs", fontsize=9)
    _save(fig, "lr_and_divergence.png")


def momentum_schedule() -> None:
    problem = th.LinearRegression(th.spectra.marchenko_pastur(300, 0.5), noise=0.1)
    opt = th.SGD(th.schedules.cosine(0.15, t_max=12.0, final=0.005), batch=4, momentum=0.9)
    curve = th.predict(problem, opt, t=12.0, num_points=60)
    sim = simulate.simulate(problem, opt, t=12.0, num_points=60, seeds=200, key=0, save_state=False)
    _save(hild.overlay(curve, sim), "momentum_cosine.png")


def lr_sweep() -> None:
    """Final risk against η from one vmapped call of the exact recursion, for three batches."""
    spec = th.spectra.power_law(300, 1.5)
    problem = th.LinearRegression(spec, th.spectra.power_law_teacher(spec, 1.2), noise=0.2)
    fig = Figure(figsize=(6.4, 4.2), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    for i, batch in enumerate((1, 4, 16)):
        eta_c = float(th.critical_lr(problem, batch))
        lrs = jnp.linspace(0.02, 1.2, 400) * eta_c
        final = jax.vmap(lambda lr: th.predict(problem, th.SGD(lr, batch=batch), t=10.0,
                                               num_points=2, save_state=False).risk[-1])(lrs)
        final = np.where(np.isfinite(final), final, np.nan)
        ax.semilogy(lrs, final, color=f"C{i}", label=f"B = {batch}")
        ax.axvline(eta_c, color=f"C{i}", ls="--", lw=0.8)
    ax.set_xlabel("learning rate η (dashed: critical η_c from the stability condition)")
    ax.set_ylabel("risk at t = 10 (samples / d)")
    ax.set_title(f"{problem.describe()}: 3 × 400 learning rates, 3 vmapped calls", fontsize=9)
    ax.legend(frameon=False)
    ax.grid(True, alpha=0.3)
    _save(fig, "lr_sweep.png")


def _from_cli(args: list[str], produced: str, name: str) -> None:
    """Run `hild ARGS -o TMP` and keep its figure `produced` as docs/NAME."""
    with tempfile.TemporaryDirectory() as tmp:
        cli.main(args + ["-o", tmp])
        data = (Path(tmp) / produced).read_bytes()
    atomic_write(HERE / name, lambda f: f.write(data), binary=True)


def default_comparison() -> None:
    """The overlay of `hild compare` on its embedded default config."""
    _from_cli(["compare"], "overlay.png", "overlay_default.png")


def committee_plateau() -> None:
    _from_cli(["compare", str(HERE.parent / "examples" / "committee_plateau.toml")], "overlay.png",
              "committee_plateau.png")


def phase_retrieval_escape() -> None:
    """Spherical phase retrieval escaping the equator, per-seed theory (examples/)."""
    _from_cli(["compare", str(HERE.parent / "examples" / "phase_retrieval_escape.toml")],
              "overlay_alignment.png", "phase_retrieval_escape.png")


def tuning_phase_diagram() -> None:
    _from_cli(["tune"], "phase_diagram.png", "phase_diagram.png")


def sensing_tuning() -> None:
    """The prox-linear pair with the fewest samples to error 0.01, from theory, confirmed
    by simulation next to the best pair of two other batch fractions."""
    problem = th.RankOneSensing("bilinear", 0.1)
    result = tune.tune(problem, th.ProxLinear(1.0), {"step": [0.5, 1, 2, 4, 8, 16],
                                                     "batch_fraction": [0.5, 1, 2, 4, 8]}, 16.0,
                       objective="samples_to_target", target=0.01, num_points=200)
    check = compare.confirm_tuning(problem, result, d=200, seeds=50, alternatives=[1.0, 2.0])
    _save(check.figure(), "sensing_tuning.png")


def real_data() -> None:
    """SGD on digits' raw pixels: exact recursion and Gaussian equivalent (examples/digits.toml)."""
    _from_cli(["compare", str(HERE.parent / "examples" / "digits.toml")], "overlay.png",
              "digits_overlay.png")


def real_data_features() -> None:
    """The same on 256 random ReLU features of the digits."""
    problem = th.DataSetRegression.from_dataset("digits", "relu", width=256)
    opt = th.SGD(6.0, batch=16)
    exact = th.predict(problem, opt, t=20.0, num_points=60)
    gaussian = th.predict(problem, opt, t=20.0, num_points=60, method="gaussian")
    sim = simulate.simulate(problem, opt, t=20.0, num_points=60, seeds=300, key=0,
                            save_state=False)
    from hild import overlay

    _save(overlay(exact, sim, references=[gaussian]), "digits_relu_overlay.png")
def imbalanced_mixture() -> None:
    """ρ = 0.2 logistic regression on two clusters: per-class test errors and the bias for the
    plain, balanced and minority-over-weighted losses, theory against 32 runs at d = 1000."""
    from hild.theory.gaussian_mixture import GaussianMixture

    fig = Figure(figsize=(10.0, 4.2), dpi=150, layout="constrained")
    ax_err, ax_b = fig.subplots(1, 2)
    opt = th.SGD(0.5)
    cases = [("plain loss", None, "C0"), ("balanced weights", "balanced", "C1"),
             ("ω = (6, 0.5)", [6.0, 0.5], "C2")]
    for i, (label, weights, color) in enumerate(cases):
        problem = GaussianMixture(0.2, 1.0, "logistic", class_weights=weights)
        curve = th.predict(problem, opt, t=20.0, num_points=81)
        sim = simulate.simulate(problem, opt, t=20.0, num_points=21, d=1000, seeds=32, key=i)
        t_th, t_sim = np.asarray(curve.t), np.asarray(sim.t)
        for name, style, marker in (("error_plus", "-", "o"), ("error_minus", "--", "s")):
            which = "minority (+1)" if name == "error_plus" else "majority (−1)"
            ax_err.plot(t_th, curve.observables[name], style, color=color,
                        label=f"{label}: {which}")
            ax_err.errorbar(t_sim, sim.mean(name), yerr=sim.stderr(name), fmt=marker,
                            color=color, ms=3, lw=0.8)
        ax_b.plot(t_th, curve.state.b, "-", color=color, label=label)
        b_sim = np.asarray(sim.state.b)
        ax_b.errorbar(t_sim, b_sim.mean(0), yerr=b_sim.std(0, ddof=1) / np.sqrt(b_sim.shape[0]),
                      fmt="o", color=color, ms=3, lw=0.8)
    fig.suptitle("two Gaussian clusters, ρ = 0.2, Δ = 1, logistic loss, SGD η = η_b = 0.5; "
                 "lines: ODEs, markers: mean ± SE of 32 runs at d = 1000", fontsize=9)
    ax_err.set(xlabel="t = samples / d", ylabel="test error per class", ylim=(0, 0.55))
    ax_err.legend(fontsize=7, ncol=1)
    ax_b.axhline(0, color="0.6", lw=0.6)
    ax_b.set(xlabel="t = samples / d", ylabel="bias b (< 0 favours the majority, −1)")
    ax_b.legend(fontsize=8)
    _save(fig, "imbalanced_mixture.png")


def main() -> None:
    jax.config.update("jax_enable_x64", True)
    default_comparison()
    committee_plateau()
    tuning_phase_diagram()
    learning_rates_and_divergence()
    momentum_schedule()
    lr_sweep()
    sensing_tuning()
    real_data()
    real_data_features()
    imbalanced_mixture()
    phase_retrieval_escape()


if __name__ == "__main__":
    main()
