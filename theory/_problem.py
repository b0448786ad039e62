"""The base of every learning problem, and the registry of families.

A family joins hild by defining one final `AbstractProblem` subclass in its own module of
theory/ (with `family = "name"`), registering its theory with `theory.predict_family`, and its
simulator with `simulate.simulate_family` in the matching module of simulate/.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx

from ._config import Table

_FAMILIES: dict[str, type["AbstractProblem"]] = {}


class AbstractProblem(eqx.Module):
    """A learning problem stated in macroscopic terms: data, target, model, loss."""

    family: ClassVar[str]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("family")
        if name is not None:
            if name in _FAMILIES and _FAMILIES[name].__qualname__ != cls.__qualname__:
                raise TypeError(f"family {name!r} is already registered by {_FAMILIES[name]}")
            _FAMILIES[name] = cls

    @abc.abstractmethod
    def to_config(self) -> dict:
        """A TOML-ready table that `from_config` reads back."""

    @classmethod
    @abc.abstractmethod
    def from_config(cls, table: Table) -> "AbstractProblem":
        """Build the problem from a config table, naming any bad field."""

    @abc.abstractmethod
    def describe(self) -> str:
        """A short label with the problem's main parameters (for legends)."""


def families() -> dict[str, type[AbstractProblem]]:
    """The registered families: name -> problem class."""
    return dict(_FAMILIES)


def problem_class(name: str) -> type[AbstractProblem]:
    try:
        return _FAMILIES[name]
    except KeyError:
        raise ValueError(f"family must be one of {', '.join(sorted(_FAMILIES))} "
                         f"(got {name!r})") from None
