"""Name -> object registries (families, optimizers, schedules, spectra, simulators).

One mechanism for all of them: a name may be registered once. Registering it again with a
different object is a `TypeError` naming both; registering the same class again (a module
reload) replaces it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


def _identity(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


class Registry(Generic[T]):
    """Objects by name; `what` names the kind of thing in error messages."""

    def __init__(self, what: str):
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T) -> T:
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {self.what} needs a non-empty string name (got {name!r})")
        old = self._items.get(name)
        if old is not None and old is not obj and _identity(old) != _identity(obj):
            raise TypeError(f"{self.what} {name!r} is already registered by {_identity(old)}; "
                            f"{_identity(obj)} must use another name")
        self._items[name] = obj
        return obj

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise ValueError(f"{self.what} must be one of {', '.join(self.names())} "
                             f"(got {name!r})") from None

    def get(self, name: str, default=None):
        return self._items.get(name, default)

    def __contains__(self, name) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._items))

    def items(self):
        return self._items.items()
