"""Import every public module of a package, so that the families (and simulators) they
define register themselves: a new family needs no edit of any `__init__.py`."""

from __future__ import annotations

import importlib
import pkgutil


def import_public_modules(package: str, path) -> None:
    for module in pkgutil.iter_modules(path):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package}.{module.name}")
