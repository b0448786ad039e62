"""The families' documented example configs (`hild example`), found without importing JAX.

hild's own families keep theirs in compare/defaults/<family>.toml; a family from outside
hild points its class's `example_config` at its own (theory.protocols.Presentation), which
is read by importing the class only when no built-in file has that name.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from hild.theory.fields import ConfigError
from hild.theory.registry import entry_points

DEFAULT_FAMILY = "linreg"
"""The family whose example config runs when none is named (`hild compare` alone)."""
FAMILY_GROUP = "hild.families"


def _builtin(family: str):
    return resources.files("hild.compare") / "defaults" / f"{family}.toml"


def default_path(family: str):
    """A family's documented example config: the built-in one, else its class's
    `example_config` (None if it has none)."""
    path = _builtin(family)
    if path.is_file():
        return path
    from hild.theory import family_names, problem_class

    if family not in family_names():
        return None
    example = getattr(problem_class(family), "example_config", None)
    return Path(example) if example is not None else None


def default_families() -> list[str]:
    """Families with an example config: every installed one (hild's own and plugins) and
    every one defined in this process."""
    import sys

    names = set(entry_points(FAMILY_GROUP))
    if "hild.theory._family" in sys.modules:  # families defined in this process
        names |= set(sys.modules["hild.theory._family"].FAMILIES.names())
    return sorted(name for name in names if _builtin(name).is_file() or _has_example(name))


def _has_example(family: str) -> bool:
    path = default_path(family)
    return path is not None and Path(path).is_file()


def description(family: str) -> str:
    """One line on a family, from the header comment of its example config: the text after
    `# hild config:` up to its first reference or sentence end."""
    lines = []
    for line in default_text(family).splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    text = " ".join(lines)
    text = text.split("hild config:", 1)[-1].strip()
    for end in (" (docs/", ". ", "; "):
        text = text.split(end, 1)[0]
    return text.rstrip(".")


def default_text(family: str = DEFAULT_FAMILY) -> str:
    """The embedded default config of a family, with its field documentation."""
    path = default_path(family)
    if path is None or not path.is_file():
        raise ConfigError(f"family: no example config for {family!r} "
                          f"(have: {', '.join(default_families())})")
    return path.read_text()


