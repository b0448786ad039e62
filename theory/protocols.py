"""Optional protocols of a family's problem class, grouped by purpose (docs/families.md).

A family implements a protocol by defining its members; hild asks with `isinstance` (the
protocols are `runtime_checkable`) and does without where a family has none: no
stability line on a phase diagram, no `hild bench`, no `hild scaling`.

| protocol | members | used by |
|---|---|---|
| `Presentation` | `risk_label()`, `observable_labels`, `example_config` | overlays, CSV column order, `hild example` |
| `Tunable` | `stability_limit(optimizer, method)` | `hild tune`'s phase diagram, `critical_lr`, the CLI's note before a run |
| `ScalingLaw` | `with_model_size(d, replica)`, `compute_optimal_exponents()` | `hild scaling` |
| `Benchmarked` | `bench_case(quick)` (a classmethod) | `hild bench` |
| `Analysed` | `analyse(optimizer, state, t_end, ode, **options)` | `predict`'s metadata (e.g. a plateau) |
| `Fluctuating` | `increment_covariance(optimizer, state, t)`, `initial_covariance(state)` | `theory.fluctuations` (the spread of runs), `hild compare`'s band |
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

DEFAULT_RISK_LABEL = r"risk  $\frac{1}{2}\mathbb{E}[(f - f^*)^2]$"


@runtime_checkable
class Presentation(Protocol):
    """How a family's curves are labelled and where its documented example config is."""

    observable_labels: ClassVar[dict[str, str]]
    """Axis labels of the named extra observables (also their order in outputs)."""
    example_config: ClassVar[Path | None]
    """A documented TOML config (hild's own families keep theirs in compare/defaults)."""

    def risk_label(self) -> str:
        """The y-axis label of `Curve.risk`."""


@runtime_checkable
class Tunable(Protocol):
    """Optional: a family with a stability limit, drawn as the critical line in `hild tune`."""
    def stability_limit(self, optimizer, method: str | None = None) -> Any:
        """The largest stable constant rate at the optimizer's other settings, from the
        dynamics of the family's theory `method` (hild passes the method `predict` runs; None:
        the optimizer's default); None where that method has no formula, never another
        method's number (`theory.stability.stability_limit`). It may take the family's
        theory options as keywords."""


@runtime_checkable
class ScalingLaw(Protocol):
    """Optional: a family whose model size can vary, for `hild scaling` (compare/frontier.py)."""
    def with_model_size(self, d: int, replica: int = 0) -> Any:
        """The same task learned by a model of size d; `replica` r > 0 is an independent
        draw of the model's random parts."""

    def compute_optimal_exponents(self) -> dict | None:
        """The predicted compute-optimal phase and exponents (`phase`, `model_size`,
        `loss`, `reference`), or None."""


@runtime_checkable
class Benchmarked(Protocol):
    """Optional: a family with a `BenchCase` for `hild bench`."""
    @classmethod
    def bench_case(cls, quick: bool = False) -> Any:
        """The `BenchCase` that `hild bench` times."""


@runtime_checkable
class Analysed(Protocol):
    """Optional: a family that adds metadata after a prediction (e.g. the committee's plateau)."""
    def analyse(self, optimizer, state, t_end: float, ode: dict, **options) -> dict:
        """Extra metadata computed after a concrete prediction (e.g. a plateau)."""


@runtime_checkable
class Fluctuating(Protocol):
    """What the linear-noise expansion (`theory.fluctuations`, docs/theory.md, Finite-d
    fluctuations) needs beyond the ODE; matrices in the order of
    `jax.flatten_util.ravel_pytree(state)`."""

    def increment_covariance(self, optimizer, state, t) -> Any:
        """D(x, t): d times the covariance per unit t of the order parameters' increments
        (for one fresh sample per d-th of t: d times the covariance of one sample's
        contribution to the vector field)."""

    def initial_covariance(self, state) -> Any:
        """d times the covariance across seeds of the order parameters of the random start."""


def risk_label(problem) -> str:
    """The family's y-axis label of the risk, or the default `risk ½E[(f − f*)²]`."""
    return problem.risk_label() if hasattr(problem, "risk_label") else DEFAULT_RISK_LABEL


def observable_labels(problem) -> dict[str, str]:
    """The family's labels of its named observables ({} if it has none)."""
    return dict(getattr(problem, "observable_labels", {}) or {})


def example_config(cls) -> Path | None:
    """The family's embedded example config file (`hild example FAMILY`), or None."""
    return getattr(cls, "example_config", None)


__all__ = ["Presentation", "Tunable", "ScalingLaw", "Benchmarked", "Analysed", "Fluctuating",
           "DEFAULT_RISK_LABEL", "risk_label", "observable_labels", "example_config"]
