"""The stability limit of the theory that runs: each family's `stability_limit(optimizer,
method)` (the `Tunable` protocol) asked for the method `predict` would use, and the one line
the CLI prints before a run whose rate is above it (docs/families.md, Optional protocols).
"""

from __future__ import annotations

import inspect

import numpy as np

from ._family import method_of
from ._theories import theory_for
from .checks import is_concrete
from .protocols import Tunable


def stability_limit(problem, optimizer, method: str | None = None, **options):
    """The largest stable constant rate of `optimizer` on `problem` under `method` (default
    the one `predict` runs), from that method's own dynamics; None where the family has no
    formula. `options` are the family's theory options (`theory_options`) where its
    `stability_limit` takes them (e.g. the data sets of full-batch GD's exact method)."""
    if method is not None:
        method = method_of(type(problem), method)
    method = theory_for(problem, optimizer, method, check=False)[1]
    if not isinstance(problem, Tunable):
        return None
    accepted = inspect.signature(problem.stability_limit).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        options = {k: v for k, v in options.items() if k in accepted}
    return problem.stability_limit(optimizer, method, **options)


def rate_note(problem, optimizer, method: str | None = None, **options) -> str | None:
    """One line when the optimizer's constant rate is above the chosen method's stability
    limit (the run still goes ahead: divergence is a result), else None."""
    lr = getattr(optimizer, "lr", None)
    if lr is None or callable(lr) or not is_concrete(lr) or np.ndim(lr) != 0:
        return None
    limit = stability_limit(problem, optimizer, method, **options)
    if limit is None or not is_concrete(limit) or not float(lr) > float(limit):
        return None
    chosen = theory_for(problem, optimizer, method and method_of(type(problem), method),
                        check=False)[1]
    return (f"note: {type(optimizer).__name__}.lr = {float(lr):.4g} is {float(lr) / float(limit):.3g}x "
            f"the critical rate {float(limit):.4g} of {problem.family}'s {chosen!r} theory: "
            f"expect it to diverge")


__all__ = ["stability_limit", "rate_note"]
