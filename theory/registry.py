"""Name -> object registries (families, optimizers, simulations, schedules, spectra, ...).

One mechanism for all of them: a name may be registered once. Registering it again with a
different object is a `TypeError` naming both; registering the same class again (a module
reload) replaces it.

A registry with an entry-point `group` also finds what is installed: a name it does not
hold is loaded from the Python entry point of that name in the group (hild's own families
and optimizers are entry points too, in its pyproject.toml), and `names()` lists both. A
name of the form `"package.module:Object"` (or `"path/to/file.py:Object"`, relative to a
config's folder) imports that module and takes the object: a family or optimizer from
outside hild, in a config or in Python.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


def _identity(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


@functools.cache
def entry_points(group: str) -> dict[str, importlib.metadata.EntryPoint]:
    """The installed entry points of `group`, by name (read once per process)."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=group)}


def is_spec(name: str) -> bool:
    """True for `"module:Object"` names (an object to import), false for registry names."""
    return isinstance(name, str) and ":" in name


def load_spec(spec: str, base: str | Path | None = None):
    """The object named by `"package.module:Object"`, or by `"file.py:Object"` (a path
    relative to `base`, e.g. a config's folder; its folder goes first on sys.path, as for
    `python file.py`, so it may import its siblings)."""
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise ValueError(f"expected 'package.module:Object' or 'file.py:Object' (got {spec!r})")
    if module_name.endswith(".py"):
        path = Path(module_name).expanduser()
        path = (Path(base) / path if base is not None and not path.is_absolute() else path).resolve()
        if not path.is_file():
            raise ValueError(f"{spec!r}: no file {path}")
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        module_name = path.stem
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"{spec!r}: cannot import {module_name} ({err})") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"{spec!r}: module {module_name} has no {attr!r}") from None


class Registry(Generic[T]):
    """Objects by name; `what` names the kind of thing in error messages; `group`, if
    given, is the entry-point group that installed objects of this kind are found in."""

    def __init__(self, what: str, group: str | None = None):
        self.what = what
        self.group = group
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T) -> T:
        """Register `obj` as `name` (a name taken by another object: TypeError); returns `obj`."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {self.what} needs a non-empty string name (got {name!r})")
        old = self._items.get(name)
        if old is not None and old is not obj and _identity(old) != _identity(obj):
            raise TypeError(f"{self.what} {name!r} is already registered by {_identity(old)}; "
                            f"{_identity(obj)} must use another name")
        self._items[name] = obj
        return obj

    def _installed(self) -> dict[str, importlib.metadata.EntryPoint]:
        return entry_points(self.group) if self.group else {}

    def _load(self, name: str) -> None:
        """Import the entry point `name` of the group (its module registers the object)."""
        ep = self._installed().get(name)
        if ep is not None and name not in self._items:
            obj = ep.load()
            if name not in self._items:  # an entry point to an object that registers another name
                self.register(name, obj)

    def __getitem__(self, name: str) -> T:
        if isinstance(name, str) and name not in self._items:
            self._load(name)
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise ValueError(f"{self.what} must be one of {', '.join(self.names())} "
                             f"(got {name!r})") from None

    def resolve(self, name: str, base: str | Path | None = None, subclass_of: type | None = None):
        """The object of a registered or installed `name`, or of a `"package.module:Class"` /
        `"file.py:Class"` spec (relative to `base`), which must be a subclass of `subclass_of`."""
        if not is_spec(name):
            return self[name]
        obj = load_spec(name, base)
        if subclass_of is not None and not (isinstance(obj, type) and issubclass(obj, subclass_of)):
            raise ValueError(f"{self.what}: {name!r} is not a subclass of {subclass_of.__name__} "
                             f"(got {obj!r})")
        return obj

    def get(self, name: str, default=None):
        """The object registered as `name` (loading its entry point on first use), or `default`."""
        if isinstance(name, str) and name not in self._items:
            self._load(name)
        return self._items.get(name, default)

    def load_all(self) -> dict[str, T]:
        """Every registered and installed object, by name (imports the installed ones)."""
        for name in self._installed():
            self._load(name)
        return dict(self._items)

    def __contains__(self, name) -> bool:
        return name in self._items or name in self._installed()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self) -> tuple[str, ...]:
        """Registered and installed names (nothing is imported)."""
        return tuple(sorted(set(self._items) | set(self._installed())))

    def items(self):
        """(name, object) pairs of everything registered, entry points loaded."""
        return self.load_all().items()
