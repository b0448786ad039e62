"""Hyperparameters from theory: engines, objectives, figures, and validation by simulation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hild import simulate
from hild import theory as th
from hild.compare import tune as T
from hild.compare import tune_figures
from hild.compare.cli import main


@pytest.fixture(scope="module")
def power_law():
    spec = th.spectra.power_law(200, 1.5)
    return th.LinearRegression(spec, th.spectra.power_law_teacher(spec, 1.2), noise=0.3)


def test_grid_is_one_vmapped_call_equal_to_a_loop(power_law):
    space = {"lr": [0.2, 0.6, 1.0], "batch": [1, 4], "momentum": [0.0, 0.5]}
    result = T.tune(power_law, th.SGD(0.5), space, 4.0, num_points=20)
    assert result.values.shape == (12,)
    for i in range(12):
        opt = th.SGD(result.candidates["lr"][i], batch=int(result.candidates["batch"][i]),
                     momentum=result.candidates["momentum"][i])
        curve = th.predict(power_law, opt, t=4.0, num_points=20, save_state=False)
        np.testing.assert_allclose(result.values[i], curve.risk[-1], rtol=1e-10)
    assert result.best_value == np.min(result.values)
    assert isinstance(result.best.batch, int)
    header, rows = result.table()
    assert header == ["lr", "batch", "momentum", "final", "rank"] and rows[0][-2] == result.best_value


def test_objectives_on_the_isotropic_closed_form():
    """Σ = I, B = 1, σ = 0: risk_k = q^k / 2 exactly, recorded at every step."""
    d, eta = 40, 0.7
    problem = th.LinearRegression(th.spectra.isotropic(d))
    curve = th.predict(problem, th.SGD(eta), t=5.0, num_points=201)  # every step
    gamma = eta / d
    q = (1 - gamma) ** 2 + gamma**2 * (d + 1)
    target = 0.05
    first_step = np.ceil(np.log(2 * target) / np.log(q))
    np.testing.assert_allclose(T.objective_value(curve, "samples_to_target", target), first_step / d)
    assert T.objective_value(curve, "samples_to_target", 1e-9) == np.inf
    np.testing.assert_allclose(T.objective_value(curve, "final"), curve.risk[-1])
    t, r = np.asarray(curve.t), np.asarray(curve.risk)
    np.testing.assert_allclose(T.objective_value(curve, "auc"), np.trapezoid(r, t) / 5.0, rtol=1e-12)


def test_random_engine_is_reproducible_and_in_range(power_law):
    space = {"lr": (0.05, 1.0, "log"), "momentum": (0.0, 0.8)}
    a = T.tune(power_law, th.SGD(0.5), space, 3.0, engine="random", key=3, num_random=16, num_points=10)
    b = T.tune(power_law, th.SGD(0.5), space, 3.0, engine="random", key=3, num_random=16, num_points=10)
    np.testing.assert_array_equal(a.values, b.values)
    assert np.all((a.candidates["lr"] >= 0.05) & (a.candidates["lr"] <= 1.0))
    assert np.all((a.candidates["momentum"] >= 0.0) & (a.candidates["momentum"] <= 0.8))


def test_gradient_engine_improves_lr_and_momentum(power_law):
    start = th.SGD(0.1, momentum=0.2)
    before = float(th.predict(power_law, start, t=5.0, num_points=20, save_state=False).risk[-1])
    result = T.tune(power_law, start, ["lr", "momentum"], 5.0, engine="gradient", iterations=40,
                    learning_rate=0.1, num_points=20)
    assert result.best_value < 0.8 * before
    assert 0 <= float(result.best.momentum) < 1 and float(result.best.lr) > 0
    assert result.values.shape == (40,) and result.values[0] == pytest.approx(before)


@pytest.mark.slow
def test_theory_choice_and_optimised_schedule_hold_up_in_simulation(power_law):
    """Tuning validated by simulation, least squares (power-law spectrum, d = 200, σ = 0.3, budget t = 10):
    the lr chosen from a 40-point theory grid must rank in the top 2 of a 6-point simulated
    grid (400 seeds each, common random numbers), and a 20-piece schedule optimised by
    gradients through the recursion must beat the best constant lr in simulation."""
    budget = 10.0
    constant = T.tune(power_law, th.SGD(0.5), {"lr": np.geomspace(0.05, 1.3, 40)}, budget)
    coarse = [th.SGD(lr) for lr in np.geomspace(0.05, 1.2, 6)]
    check = T.validate(power_law, constant.best, coarse, budget, seeds=400, key=11)
    assert check.rank <= 2, check
    assert check.ratio < 1.05, check
    start = th.SGD(th.schedules.piecewise_constant(jnp.full(20, float(constant.best.lr)),
                                                   t_max=budget))
    scheduled = T.tune(power_law, start, ["lr.values"], budget, engine="gradient",
                       iterations=150, learning_rate=0.1)
    assert scheduled.best_value < 0.7 * constant.best_value  # theory: a clear gain
    runs = [simulate.simulate(power_law, opt, t=budget, num_points=2, seeds=400, key=12)
            for opt in (scheduled.best, constant.best)]
    diff = np.asarray(runs[0].risk[:, -1]) - np.asarray(runs[1].risk[:, -1])  # paired seeds
    se = diff.std(ddof=1) / np.sqrt(diff.size)
    assert diff.mean() < -5 * se, (diff.mean(), se)
    np.testing.assert_allclose(runs[0].mean()[-1], scheduled.best_value, rtol=0.05)


def test_phase_diagram_figure(power_law):
    batches = [1, 4, 16]
    result = T.tune(power_law, th.SGD(0.5), {"lr": np.geomspace(0.1, 8, 12), "batch": batches},
                    3.0, num_points=10)
    assert not np.all(np.isfinite(result.values))  # the grid crosses the critical lr
    critical = tune_figures.critical_line(power_law, result.best, "batch", batches)
    np.testing.assert_allclose(critical, [float(th.critical_lr(power_law, b)) for b in batches])
    with_momentum = tune_figures.critical_line(power_law, th.SGD(0.5, momentum=0.5), "batch", batches)
    np.testing.assert_allclose(with_momentum, [th.critical_rate(power_law, th.SGD(0.5, batch=b, momentum=0.5))
                                               for b in batches])
    fig = tune_figures.phase_diagram(result, critical=critical)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "critical lr (theory)" in labels and "chosen" in labels
    with pytest.raises(ValueError, match="needs a grid over"):
        tune_figures.phase_diagram(T.tune(power_law, th.SGD(0.5), {"lr": [0.1, 0.2]}, 1.0))


@pytest.mark.parametrize("kwargs, match", [
    (dict(space={"learning_rate": [0.1]}), "'learning_rate' is not a hyperparameter of SGD"),
    (dict(space={"lr": [0.1]}, engine="annealing"), "engine must be one of"),
    (dict(space={"lr": [0.1]}, objective="best"), "objective must be one of"),
    (dict(space={"lr": [0.1]}, objective="samples_to_target"), "target must be a number > 0"),
    (dict(space={"lr": [0.1]}, budget=0.0), "budget must be a number > 0"),
    (dict(space={"lr": [float("nan")]}), "non-empty list of finite numbers"),
    (dict(space={"lr": [50.0]}), "every candidate diverged"),
    (dict(space=["lr"], engine="gradient", objective="samples_to_target", target=0.1),
     "piecewise constant"),
])
def test_bad_tune_arguments(power_law, kwargs, match):
    args = dict(budget=2.0) | kwargs
    space, budget = args.pop("space"), args.pop("budget")
    with pytest.raises(ValueError, match=match):
        T.tune(power_law, th.SGD(0.5), space, budget, num_points=5, **args)


CONFIG = """
family = "linreg"
[problem]
spectrum = { kind = "power_law", d = 40, alpha = 1.5 }
noise = 0.2
[optimizer]
lr = 0.3
[simulation]
seeds = 8
[tune]
engine = "ENGINE"
budget = 3.0
num_points = 20
"""


@pytest.mark.parametrize("engine, table, outputs", [
    ("grid", '[tune.grid]\nlr = { min = 0.05, max = 4.0, num = 8, log = true }\nbatch = [1, 4]',
     {"phase_diagram.png"}),
    ("gradient", "[tune.gradient]\nschedule_pieces = 5\niterations = 10", {"schedule.png"}),
])
def test_hild_tune_writes_a_choice_that_feeds_back(tmp_path, engine, table, outputs):
    cfg = tmp_path / "tune.toml"
    cfg.write_text(CONFIG.replace("ENGINE", engine) + table)
    out = tmp_path / "out"
    assert main(["tune", str(cfg), "-o", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"candidates.csv", "chosen.toml", "tune.json", "overlay.png"} | outputs <= names
    assert main(["simulate", str(out / "chosen.toml"), "-o", str(tmp_path / "again")]) == 0


def test_hild_tune_bad_table(tmp_path, capsys):
    cfg = tmp_path / "tune.toml"
    cfg.write_text(CONFIG.replace("ENGINE", "grid") + "[tune.grid]\nlearning_rate = [0.1]")
    assert main(["tune", str(cfg), "-o", str(tmp_path / "out")]) == 2
    assert "tune.grid.learning_rate" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_chunked_evaluation_equals_one_block(power_law):
    cands = T.grid(lr=np.geomspace(0.1, 1.0, 7), batch=[1, 2])
    whole = T.evaluate(power_law, th.SGD(0.5), cands, 2.0, num_points=10)
    chunked = T.evaluate(power_law, th.SGD(0.5), cands, 2.0, num_points=10, chunk=4)
    np.testing.assert_allclose(chunked, whole, rtol=1e-13)


@pytest.mark.slow  # a 30-pair grid of the sensing recursion at 200 points (~30 CPU-s)
def test_samples_to_target_picks_fewest_samples_for_prox_linear():
    """The (step, batch fraction) grid of rank-one sensing, grouped by the iteration-setting
    batch fraction: the choice needs the fewest samples to error 0.01 (η = 8, δ = 4: 3
    iterations, t = 12), and independent predictions confirm it reaches the target at its
    third iteration and not before."""
    problem = th.RankOneSensing("bilinear", 0.1)
    steps, fractions = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0], [0.5, 1.0, 2.0, 4.0, 8.0]
    result = T.tune(problem, th.ProxLinear(1.0, 1.0), {"step": steps, "batch_fraction": fractions},
                    16.0, objective="samples_to_target", target=0.01, num_points=200)
    assert (float(result.best.step), float(result.best.batch_fraction)) == (8.0, 4.0)
    assert result.best_value == 12.0 == np.min(result.values)
    risk = np.asarray(th.predict(problem, result.best, 4, num_points=5).risk)
    assert risk[3] <= 0.01 < risk[2]
    assert result.tiebreak[result.ranking()[0]] == pytest.approx(risk[3], rel=1e-9)
    with pytest.raises(ValueError, match="every candidate diverged or missed the target"):
        T.tune(problem, th.ProxLinear(1.0, 1.0), {"step": [1.0]}, 5.0,
               objective="samples_to_target", target=1e-4)


@pytest.mark.slow
def test_committee_choice_and_schedule_hold_up_in_simulation():
    """Tuning validated by simulation, committee machine (K = M = 2, erf, σ = 0.3, every seed started at
    the theory's initial overlaps, d = 500, budget t = 20): the lr from a 30-point theory grid
    ranks in the top 2 of a 5-point simulated grid, and a 10-piece schedule optimised through
    the diffrax ODE beats the best constant lr in simulation."""
    from hild.theory.committee import random_init

    base = th.CommitteeMachine(2, 2, "erf", noise=0.3, init_scale=1.0)
    problem = th.CommitteeMachine(2, 2, "erf", noise=0.3, init_scale=1.0,
                                  init=random_init(base, jax.random.key(5), 500))
    budget = 20.0
    constant = T.tune(problem, th.SGD(0.5), {"lr": np.geomspace(0.05, 3.0, 30)}, budget,
                      plateau=False)
    coarse = [th.SGD(lr) for lr in np.geomspace(0.05, 2.0, 5)]
    check = T.validate(problem, constant.best, coarse, budget, seeds=32, key=3, d=500)
    assert check.rank <= 2 and check.ratio < 1.05, check
    start = th.SGD(th.schedules.piecewise_constant(jnp.full(10, float(constant.best.lr)),
                                                   t_max=budget))
    scheduled = T.tune(problem, start, ["lr.values"], budget, engine="gradient", iterations=40,
                       learning_rate=0.15, num_points=50, plateau=False)
    assert scheduled.best_value < 0.97 * constant.best_value
    runs = [simulate.simulate(problem, opt, t=budget, num_points=2, seeds=32, key=4, d=500)
            for opt in (scheduled.best, constant.best)]
    diff = np.asarray(runs[0].risk[:, -1]) - np.asarray(runs[1].risk[:, -1])  # paired seeds
    assert diff.mean() < -5 * diff.std(ddof=1) / np.sqrt(diff.size)
    np.testing.assert_allclose(runs[0].mean()[-1], scheduled.best_value, rtol=0.02)
