"""Docstring coverage of hild's public API: every module of hild.theory, hild.simulate and
hild.compare whose name has no leading underscore, plus the names each package exports
(`__all__`, which point into private modules too). Counts public functions, classes and
their public methods and properties defined there.

    python scripts/docstring_coverage.py [--missing]    # prints coverage; --missing lists the gaps
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys

PACKAGES = ("hild.theory", "hild.simulate", "hild.compare")


def modules() -> list:
    out = []
    for name in PACKAGES:
        package = importlib.import_module(name)
        out.append(package)
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                out.append(importlib.import_module(f"{name}.{info.name}"))
    return out


def public_objects() -> dict[str, object]:
    """{qualified name: object} of every public function, class, method and property."""
    found: dict[str, object] = {}

    def add(qualname: str, obj) -> None:
        found[qualname] = obj
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if isinstance(value, (staticmethod, classmethod)):
                    value = value.__func__
                if inspect.isfunction(value) or isinstance(value, property):
                    found[f"{qualname}.{attr}"] = value

    for module in modules():
        for attr, obj in vars(module).items():
            if (not attr.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
                    and getattr(obj, "__module__", None) == module.__name__):
                add(f"{module.__name__}.{attr}", obj)
    for name in PACKAGES:
        package = importlib.import_module(name)
        for attr in package.__all__:
            obj = getattr(package, attr)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                add(f"{obj.__module__}.{obj.__qualname__}", obj)
    return found


def documented(name: str, obj, objects: dict) -> bool:
    """Its own docstring, or (a method or property) the one of the method it overrides, which
    `help()` and the API reference show."""
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")
    else:
        doc = obj.fget.__doc__ if isinstance(obj, property) else obj.__doc__
        owner = objects.get(name.rsplit(".", 1)[0])
        if not (doc and doc.strip()) and inspect.isclass(owner):
            doc = inspect.getdoc(getattr(owner, name.rsplit(".", 1)[1], None))
    return bool(doc and doc.strip())


def main(argv: list[str]) -> int:
    objects = public_objects()
    missing = sorted(name for name, obj in objects.items() if not documented(name, obj, objects))
    functions = {n: o for n, o in objects.items() if not inspect.isclass(o)}
    print(f"{len(objects) - len(missing)}/{len(objects)} public objects documented "
          f"({1 - len(missing) / len(objects):.0%}); functions and methods: "
          f"{sum(documented(n, o, objects) for n, o in functions.items())}/{len(functions)}")
    if "--missing" in argv:
        print("\n".join(missing))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
