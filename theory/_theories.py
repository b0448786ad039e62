"""Theories as registered (problem, optimizer) pairs.

A family's theory of an optimizer is one function, registered for the pair of classes:

    @register_theory(LinearRegression, SGD, methods=("exact", "limit", "volterra"))
    def sgd_on_least_squares(problem, optimizer, state, method): -> Recursion | ODE | Closed

`predict` finds it by the pair (subclasses inherit their bases' theories; the most specific
pair wins), so a new optimizer or a new family adds its theories without editing anyone's
code, and an unsupported pair is a `TypeError` naming both, raised on the host before
anything is traced. `check(problem, optimizer, method)`, if given, refuses settings the
theory does not cover (concrete values, on the host).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple


class Theory(NamedTuple):
    problem: type
    optimizer: type
    dynamics: Callable[..., Any]
    methods: tuple[str, ...]
    check: Callable[[Any, Any, str], None] | None


_THEORIES: dict[tuple[type, type], Theory] = {}


def register_theory(problem: type, optimizer: type, *, methods: tuple[str, ...] | None = None,
                    check: Callable[[Any, Any, str], None] | None = None):
    """Decorator: `fn(problem, optimizer, state, method, **options)` is the theory of
    `optimizer` on `problem` for `methods` (default: all of the family's methods)."""
    family_methods = tuple(getattr(problem, "methods", {}) or ())
    methods = family_methods if methods is None else tuple(methods)
    unknown = [m for m in methods if m not in family_methods]
    if unknown or not methods:
        raise TypeError(f"register_theory: {problem.__name__} has the methods "
                        f"{', '.join(family_methods) or 'none'} (got {methods!r})")

    def register(fn):
        key = (problem, optimizer)
        old = _THEORIES.get(key)
        if old is not None and _name(old.dynamics) != _name(fn):
            raise TypeError(f"the theory of {optimizer.__name__} on {problem.__name__} is already "
                            f"registered by {_name(old.dynamics)}; {_name(fn)} cannot replace it")
        _THEORIES[key] = Theory(problem, optimizer, fn, methods, check)
        return fn

    return register


def _name(fn) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def find_theory(problem_cls: type, optimizer_cls: type) -> Theory | None:
    """The registered theory of the pair, the most specific one first (None if none)."""
    for p in problem_cls.__mro__:
        for o in optimizer_cls.__mro__:
            found = _THEORIES.get((p, o))
            if found is not None:
                return found
    return None


def theories_of(problem_cls: type) -> list[Theory]:
    """Every theory registered for the family (its own class or a base)."""
    return [t for (p, _), t in _THEORIES.items() if issubclass(problem_cls, p)]


def theory_for(problem, optimizer, method: str | None = None, *,
               check: bool = True) -> tuple[Theory, str]:
    """The theory of `optimizer` on `problem` and the method it runs: `method`, or the
    family's first method that this theory covers. TypeError for an unsupported pair,
    ValueError for a method this pair lacks, both naming what there is."""
    cls = type(problem)
    found = find_theory(cls, type(optimizer))
    if found is None:
        have = sorted({t.optimizer.__name__ for t in theories_of(cls)})
        raise TypeError(f"hild has no theory for {type(optimizer).__name__} on "
                        f"{cls.__name__} ({cls.family}); its theories: "
                        f"{', '.join(have) or 'none'} (simulation needs none)")
    if method is None:
        method = next((m for m in cls.methods if m in found.methods))
    elif method not in found.methods:
        others = sorted({t.optimizer.__name__ for t in theories_of(cls) if method in t.methods})
        raise ValueError(f"method {method!r} of {cls.family} covers {', '.join(others)}; use "
                         f"method {' or '.join(repr(m) for m in found.methods)} for "
                         f"{type(optimizer).__name__}")
    if check and found.check is not None:  # check=False: only which method (e.g. for its
        found.check(problem, optimizer, method)  # stability limit at a placeholder rate)
    return found, method


def has_theory(problem, optimizer) -> bool:
    """True when some method of `problem`'s family predicts `optimizer`."""
    return find_theory(type(problem), type(optimizer)) is not None
