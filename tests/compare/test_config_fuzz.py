"""Property-based fuzzing of configs: random mutations of every embedded default go through
config parsing and the CLI's validation path (nothing is computed). Each must parse, or
fail with one line naming the field (exit 2): never a traceback."""

import math
import re
import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hild.compare import config, examples
from hild.compare.commands import validate_run
from hild.theory import ConfigError

FAMILIES = examples.default_families()
DEFAULTS = {family: tomllib.loads(examples.default_text(family)) for family in FAMILIES}
FIELD = re.compile(r"^[\w.\[\]/ ,-]+: \S")  # "table.field: message", one line


def _paths(data, prefix=()):
    for key, value in data.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from _paths(value, (*prefix, key))


def _set(data, path, value):
    for key in path[:-1]:
        data = data[key]
    if value is DROP:
        del data[path[-1]]
    else:
        data[path[-1]] = value


DROP = object()
REPLACEMENTS = st.sampled_from([DROP, "text", True, -1, 0, 3, 1.5, -2.5, 10**9, 10**18, 10**30,
                                2**64, 1e29, 1e300, math.nan, -math.inf, [], [1.0, "a"], {},
                                {"kind": "nope"}])


def _mutated(family, data, choice, value):
    data = tomllib.loads(examples.default_text(family))  # a fresh copy
    paths = list(_paths(data))
    path = paths[choice % len(paths)]
    if isinstance(value, str) and value == "negate":
        old = _get(data, path)
        value = -old if isinstance(old, (int, float)) and not isinstance(old, bool) else "x"
    _set(data, path, value)
    return data


def _get(data, path):
    for key in path:
        data = data[key]
    return data


def _check(data, tmp_path):
    try:
        job = config.parse(data)
        for command in ("predict", "compare"):
            validate_run(job, command, str(tmp_path / "out"))
    except ConfigError as err:
        message = str(err)
        assert "\n" not in message and FIELD.match(message), message


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(family=st.sampled_from(FAMILIES), choice=st.integers(0, 10**6),
       value=st.one_of(REPLACEMENTS, st.just("negate")))
def test_a_mutated_field_parses_or_names_itself(family, choice, value, tmp_path):
    _check(_mutated(family, DEFAULTS[family], choice, value), tmp_path)


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(family=st.sampled_from(FAMILIES), where=st.sampled_from(["", "problem", "optimizer",
                                                                 "horizon", "simulation"]),
       name=st.text("abcxyz_", min_size=1, max_size=8), table=st.booleans())
def test_unknown_fields_and_tables_are_named(family, where, name, table, tmp_path):
    data = tomllib.loads(examples.default_text(family))
    target = data if not where else data.setdefault(where, {})
    target[f"zz_{name}"] = {"a": 1} if table else 1
    with pytest.raises(ConfigError, match=rf"zz_{name}: unknown"):
        _check_strict(data, tmp_path)


def _check_strict(data, tmp_path):
    job = config.parse(data)
    validate_run(job, "compare", str(tmp_path / "out"))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(family=st.sampled_from(FAMILIES), cut=st.integers(0, 10**6),
       junk=st.sampled_from(["=", "[", "]]", "\"", "= =", "[[x]]\n[[x]", "\x00", "k = 1\nk = 2"]))
def test_malformed_toml_is_one_line(family, cut, junk):
    text = examples.default_text(family)
    at = cut % len(text)
    try:
        config.parse(tomllib.loads(text[:at] + junk + text[at:]))
    except tomllib.TOMLDecodeError:
        with pytest.raises(ConfigError, match=r"^config: not valid TOML"):
            config.loads(text[:at] + junk + text[at:])
    except ConfigError as err:
        assert "\n" not in str(err) and FIELD.match(str(err)), str(err)
