"""Lazy package attributes (PEP 562): a name is imported from its module on first use.

`import hild` (or `hild.theory`, `hild.simulate`, `hild.compare`) imports no JAX: the
command line answers `--help` before anything heavy loads, and a script pays only for what
it uses. Each package states `{name: module}` once and gets `__getattr__`, `__dir__` and
`__all__` from `attach`; a name that is not listed falls back to a submodule of that name
(`hild.theory.linreg`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def attach(package: str, exports: dict[str, str]) -> tuple[Callable, Callable, list[str]]:
    """`(__getattr__, __dir__, __all__)` for `package`, whose attribute `name` is
    `exports[name]` (a module path, relative to the package if it starts with a dot)."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str):
        module = exports.get(name)
        if module is None:
            try:
                value = importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as err:
                if err.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        else:
            value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__, sorted(exports)
