"""Config fields: reading plain-dict configs (parsed TOML) into hild objects and writing them
back, with errors that name the field.

Every `from_config` reads its table through `Table`, which type-checks each value,
rejects NaN/inf, and at `finish()` rejects fields it did not read, listing the allowed ones.
A `Configurable` class (problems, optimizers, schedules, states) gets `from_config` and
`to_config` from its constructor: each parameter is a config field of the same name, read
and written by a `Codec` — from the parameter's annotation (`int`, `float`, `bool`, `str`,
`list[float]`) or from the class's `config_fields` where the field needs more (a range, a
choice of names, a matrix, a nested table).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np


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
        """Whether the table gives `key` (which counts as an allowed field)."""
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
        """The field `key` as a float (ConfigError if it is not a number), or `default`."""
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
        """The field `key` as a string, one of `choices` if given, or `default`."""
        value = self._get(key, default)
        if not isinstance(value, str):
            raise ConfigError(f"{self._name(key)}: expected a string (got {value!r})")
        if choices is not None and value not in choices:
            raise ConfigError(f"{self._name(key)}: must be one of {', '.join(choices)} "
                              f"(got {value!r})")
        return value

    def numbers(self, key: str, default=_MISSING) -> list[float]:
        """The field `key` as a list of floats, or `default`."""
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, list):
            raise ConfigError(f"{self._name(key)}: expected a list of numbers (got {value!r})")
        return [self._as_float(f"{self._name(key)}[{i}]", v) for i, v in enumerate(value)]

    def raw(self, key: str, default=_MISSING):
        """The field `key` as TOML gave it, or `default`."""
        return self._get(key, default)

    def table(self, key: str) -> "Table | None":
        """The sub-table `key` as a `Table`, or None if absent."""
        value = self._get(key, None)
        if value is None:
            return None
        return Table(value, self._name(key))

    def fail(self, key: str, message: str):
        """Raise a ConfigError about field `key` of this table."""
        raise ConfigError(f"{self._name(key)}: {message}")

    def finish(self) -> None:
        """Refuse a field that no reader asked for (ConfigError naming it and the allowed ones)."""
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


INT32_MAX = 2**31 - 1


class Codec:
    """How one config field is read from a `Table` and written back (TOML-ready values)."""

    def keys(self, key: str) -> tuple[str, ...]:
        """The config keys this field owns (usually just `key`)."""
        return (key,)

    def read(self, table: Table, key: str, given: dict[str, Any]) -> Any:
        """The value of field `key` (`given`: the fields read before it)."""
        raise NotImplementedError

    def write(self, key: str, value) -> dict[str, Any]:
        """`{config key: TOML value}` for a field's value."""
        return {key: self.encode(value)}

    def encode(self, value) -> Any:
        """The value as TOML writes it (the inverse of `read`)."""
        raise NotImplementedError


class Number(Codec):
    """A config field that is a real number."""
    def read(self, table, key, given):
        return table.number(key)

    def encode(self, value):
        """The value as a TOML float."""
        return float(value)


class Integer(Codec):
    """An integer in [low, high] (default: the int64 range)."""

    def __init__(self, low: int = -INT64_MAX - 1, high: int = INT64_MAX):
        self.low, self.high = low, high

    def read(self, table, key, given):
        return table.integer(key, low=self.low, high=self.high)

    def encode(self, value):
        """The value as a TOML integer."""
        return int(value)


class Boolean(Codec):
    """A config field that is true or false."""
    def read(self, table, key, given):
        value = table.raw(key)
        if not isinstance(value, bool):
            table.fail(key, f"expected true or false (got {value!r})")
        return value

    def encode(self, value):
        """The value as a TOML boolean."""
        return bool(value)


class String(Codec):
    """A string, one of `choices` if given; `name(value)` writes a value that is not a string
    (e.g. a callable activation by its name)."""

    def __init__(self, choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None,
                 name: Callable[[Any], str] | None = None):
        self.choices, self.name = choices, name

    def read(self, table, key, given):
        choices = self.choices() if callable(self.choices) else self.choices
        return table.string(key, choices)

    def encode(self, value):
        """The value as a TOML string (its registered name, where it has one)."""
        return self.name(value) if self.name is not None else str(value)


class Numbers(Codec):
    """A list of numbers (a 1-D array)."""

    def read(self, table, key, given):
        return table.numbers(key)

    def encode(self, value):
        """The values as a flat TOML list of floats."""
        return [float(x) for x in np.ravel(np.asarray(value, dtype=np.float64))]


class Integers(Codec):
    """A list of `count` integers >= `low` (e.g. quadrature nodes)."""

    def __init__(self, count: int, low: int = 1, what: str = "integers"):
        self.count, self.low, self.what = count, low, what

    def read(self, table, key, given):
        raw = table.raw(key)
        if not (isinstance(raw, list) and len(raw) == self.count
                and all(isinstance(n, int) and not isinstance(n, bool) for n in raw)):
            table.fail(key, f"expected {self.count} {self.what} (got {raw!r})")
        return tuple(raw)

    def encode(self, value):
        """The values as a TOML list of integers."""
        return [int(n) for n in value]


class Matrix(Codec):
    """A matrix: a list of equally long rows of numbers."""

    def read(self, table, key, given):
        raw = table.raw(key)
        if not (isinstance(raw, list) and raw and all(isinstance(row, list) for row in raw)
                and len({len(row) for row in raw}) == 1):
            table.fail(key, f"expected a matrix, a list of equally long rows of numbers "
                            f"(got {_short(raw)})")
        for i, row in enumerate(raw):
            for j, x in enumerate(row):
                Table._as_float(table._name(f"{key}[{i}][{j}]"), x)
        return np.asarray(raw, dtype=np.float64)

    def encode(self, value):
        """The matrix as nested TOML lists of floats."""
        return np.asarray(value, dtype=np.float64).tolist()


class Nested(Codec):
    """A sub-table read by a `Configurable` class (e.g. an initial state {m, q})."""

    def __init__(self, cls: type | Callable[[], type]):
        self._cls = cls

    @property
    def cls(self) -> type:
        """The nested `Configurable` class (given as the class or a function returning it)."""
        return self._cls if isinstance(self._cls, type) else self._cls()

    def read(self, table, key, given):
        sub = table.table(key)
        if sub is None:
            table.fail(key, "expected a table")
        return self.cls.from_config(sub)

    def encode(self, value):
        """The nested object's own config table."""
        return value.to_config()


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _codec_for(annotation) -> Codec | None:
    """The codec of a plain annotation (also given as a string)."""
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    name = name.replace(" ", "").replace("typing.", "")
    return {"int": Integer(), "float": Number(), "bool": Boolean(), "str": String(),
            "list[float]": Numbers()}.get(name)


def codecs_of(fn: Callable, overrides: dict[str, Codec | None] | None = None,
              skip=()) -> dict[str, tuple[Codec, bool]]:
    """`{parameter: (codec, required)}` of `fn`'s keyword-passable parameters, except those in
    `skip` and those that `overrides` maps to None (not config fields)."""
    overrides = overrides or {}
    fields = getattr(fn, "__dataclass_fields__", {})  # a field's own annotation, where a
    out = {}                                          # converter made __init__'s `Any`
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY) \
                or name in skip or (name in overrides and overrides[name] is None):
            continue
        codec = overrides.get(name) or _codec_for(param.annotation) or (
            _codec_for(fields[name].type) if name in fields else None)
        if codec is None:
            owner = getattr(fn, "__qualname__", repr(fn))
            raise TypeError(f"{owner}: parameter {name!r} has no config type; annotate it int, "
                            f"float, bool, str or list[float], or give it a codec in "
                            f"config_fields")
        out[name] = (codec, param.default is inspect.Parameter.empty)
    return out


def read_fields(fn: Callable, table: Table, overrides: dict[str, Codec] | None = None,
                **given) -> dict[str, Any]:
    """The keyword arguments of `fn` read from `table` (those in `given` are taken as they
    are): a required parameter must be present, an optional one may be absent. Then
    `finish()`: any other field is an error that lists the allowed ones."""
    kwargs = dict(given)
    for name, (codec, required) in codecs_of(fn, overrides, skip=given).items():
        if any(table.has(key) for key in codec.keys(name)) or required:
            kwargs[name] = codec.read(table, name, kwargs)
    table.finish()
    return kwargs


def read_call(fn: Callable, table: Table, **given):
    """`fn(**read_fields(fn, table, **given))`: a function called with its parameters read
    from a table by their annotations (e.g. a spectrum's `power_law(d: int, alpha: float)`)."""
    return fn(**read_fields(fn, table, **given))


class Configurable:
    """A mixin (problems, optimizers, schedules and states are `equinox.Module`s that add it)
    for a class whose config table is its constructor's parameters, each written from the
    attribute of the same name. `config_fields` gives the codecs that annotations cannot
    (None: a parameter that is not a config field); `retired_fields` maps a field that moved
    to the one-line pointer its error gives."""

    config_fields: ClassVar[dict[str, Codec | None]] = {}
    retired_fields: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_config(cls, table: Table):
        """Build from a config table, naming any bad field."""
        for key, where in cls.retired_fields.items():
            if table.has(key):
                table.fail(key, where)
        return cls(**read_fields(cls, table, cls.config_fields))

    def to_config(self) -> dict:
        """A TOML-ready table that `from_config` reads back."""
        kind = getattr(type(self), "kind", None)
        out: dict[str, Any] = {"kind": kind} if isinstance(kind, str) else {}
        for name, (codec, _) in codecs_of(type(self), self.config_fields).items():
            value = getattr(self, name)
            if value is not None:
                out.update(codec.write(name, value))
        return out
