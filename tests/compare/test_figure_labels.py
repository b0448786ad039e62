"""What the figures tell a reader (issue 24): every drawn element in the legend, every grid
row labelled, a colour scale where colour encodes a size, and no label that reuses a config
field's name for something else."""

import matplotlib
import numpy as np

from hild import theory as th
from hild.compare import frontier, overlay, tune, tune_figures

matplotlib.use("Agg")


def _labels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _curves(seeds: int):
    """A theory curve and a simulated one made by hand (no compilation: only labels matter)."""
    problem, opt = th.LinearRegression(th.spectra.isotropic(20)), th.SGD(0.5, batch=2)
    t = np.linspace(0.0, 2.0, 5)
    risk = 0.5 * np.exp(-t)
    common = dict(step=np.arange(5) * 10, t=t, state=None, problem=problem, optimizer=opt,
                  diverged_step=np.int32(-1))
    noise = 1 + 0.05 * np.random.default_rng(0).normal(size=(seeds, 5))
    theory = th.Curve(risk=risk, diverged=np.bool_(False), metadata={"method": "exact"},
                      diverged_t=np.inf, **common)
    sim = th.Curve(risk=risk * noise, diverged=np.zeros(seeds, bool), metadata={"d": 20},
                   diverged_t=np.full(seeds, np.inf), **common)
    return theory, sim


def test_overlay_legend_names_the_faint_runs_and_the_band():
    theory, sim = _curves(seeds=6)
    labels = _labels(overlay.overlay(theory, sim, max_seeds=4).axes[0])
    assert "4 individual runs" in labels and "± 1 standard error" in labels
    assert "momentum=0" in theory.optimizer.describe() and "β" not in theory.optimizer.describe()
    assert "β" not in th.Nesterov(0.5, momentum=0.9).describe()
    fig = overlay.overlay(theory, sim, label="a")  # several labelled overlays on one axis:
    overlay.overlay(theory, sim, ax=fig.axes[0], label="b", color="C1")  # one entry each
    labels = _labels(fig.axes[0])
    assert labels.count("individual runs (faint)") == 1 and labels.count("± 1 standard error") == 1


def test_phase_diagram_labels_every_batch_row():
    lrs, batches = np.geomspace(0.1, 1.0, 4), np.array([1, 4, 16, 64])
    lr, batch = (a.ravel() for a in np.meshgrid(lrs, batches))
    result = tune.TuneResult({"lr": lr, "batch": batch}, lr / batch, th.SGD(0.1, batch=1),
                             0.1, "final", 10.0, "grid")
    ax = tune_figures.phase_diagram(result).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1", "4", "16", "64"]


def test_frontier_figure_has_a_colour_scale_of_the_sizes():
    sizes, compute = np.array([8, 16, 32]), np.geomspace(1e3, 1e6, 4)
    loss = 1.0 / np.outer(np.sqrt(sizes), np.log(compute))
    fr = frontier.Frontier(sizes, compute, loss, np.full(4, np.nan), np.full(4, np.nan), {},
                           None, {}, "toy")
    fig = fr.figure()
    scale = [ax for ax in fig.axes if ax.get_ylabel().startswith("model size d")]
    assert len(scale) == 1 and scale[0].get_yscale() == "log"
