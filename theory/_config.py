"""Reading plain-dict configs (parsed TOML) into hild objects, with errors that name the field.

Every `from_config` reads its table through `Table`, which type-checks each value,
rejects NaN/inf, and at `finish()` rejects fields it did not read, listing the allowed ones.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any


INT64_MAX = 2**63 - 1
MAX_MAGNITUDE = 1e30
"""Config numbers stay below this magnitude, so float32 simulations can hold them."""


class ConfigError(ValueError):
    """A config field is missing, unknown, of the wrong type, or out of range."""


_MISSING = object()


class Table:
    """A view of one config table that remembers which fields were read."""

    def __init__(self, data: Any, path: str):
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a table (got {type(data).__name__})")
        self._data = data
        self._path = path
        self._read: list[str] = []

    def _name(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def keys(self) -> list[str]:
        """The fields present in this table."""
        return list(self._data)

    def has(self, key: str) -> bool:
        if key not in self._read:
            self._read.append(key)
        return key in self._data

    def _get(self, key: str, default):
        present = self.has(key)
        if not present:
            if default is _MISSING:
                raise ConfigError(f"{self._name(key)}: missing required field")
            return default
        return self._data[key]

    def number(self, key: str, default=_MISSING) -> float:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        return self._as_float(self._name(key), value)

    def integer(self, key: str, default=_MISSING, *, low: int = -INT64_MAX - 1,
                high: int = INT64_MAX) -> int:
        """An integer in [low, high] (default: the int64 range)."""
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self._name(key)}: expected an integer "
                              f"(got {value!r})")
        if not low <= value <= high:
            bound = f">= {low}" if value < low else f"<= {high}"
            raise ConfigError(f"{self._name(key)}: must be an integer {bound} (got {value})")
        return value

    def string(self, key: str, choices: tuple[str, ...] | None = None, default=_MISSING) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise ConfigError(f"{self._name(key)}: expected a string (got {value!r})")
        if choices is not None and value not in choices:
            raise ConfigError(f"{self._name(key)}: must be one of {', '.join(choices)} "
                              f"(got {value!r})")
        return value

    def numbers(self, key: str, default=_MISSING) -> list[float]:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, list):
            raise ConfigError(f"{self._name(key)}: expected a list of numbers (got {value!r})")
        return [self._as_float(f"{self._name(key)}[{i}]", v) for i, v in enumerate(value)]

    def raw(self, key: str, default=_MISSING):
        return self._get(key, default)

    def table(self, key: str) -> "Table | None":
        value = self._get(key, None)
        if value is None:
            return None
        return Table(value, self._name(key))

    def fail(self, key: str, message: str):
        """Raise a ConfigError about field `key` of this table."""
        raise ConfigError(f"{self._name(key)}: {message}")

    def finish(self) -> None:
        unknown = [k for k in self._data if k not in self._read]
        if unknown:
            allowed = ", ".join(self._read) or "none"
            raise ConfigError(f"{self._name(unknown[0])}: unknown field (allowed here: {allowed})")

    @staticmethod
    def _as_float(name: str, value) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}: expected a number (got {value!r})")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{name}: must be finite (got {value})")
        if abs(value) > MAX_MAGNITUDE:
            raise ConfigError(f"{name}: must be at most {MAX_MAGNITUDE:g} in magnitude "
                              f"(got {value:g})")
        return value


def read_call(fn: Callable, table: Table, **given):
    """Call `fn` with `given` and its other parameters read from `table` by their
    annotations: `int`, `float`, `list[float]` (one with a default is optional). Then
    `finish()`."""
    kwargs = dict(given)
    for name, param in inspect.signature(fn).parameters.items():
        if name in given:
            continue
        kind = str(param.annotation).replace(" ", "")
        default = param.default if param.default is not inspect.Parameter.empty else _MISSING
        if default is not _MISSING and not table.has(name):
            continue
        if kind.startswith("int"):
            kwargs[name] = table.integer(name, default)
        elif kind.startswith("list"):
            kwargs[name] = table.numbers(name, default)
        elif kind.startswith("float"):
            kwargs[name] = table.number(name, default)
        else:
            raise TypeError(f"read_call: {fn.__name__}({name}: {kind}) has no config type")
    table.finish()
    return fn(**kwargs)
