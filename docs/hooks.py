"""mkdocs hooks of hild's docs site (mkdocs.yml, `hooks:`).

- The home page is the README, with its `docs/...` links made relative to docs/.
- griffe (mkdocstrings) reads the package statically from build/api-src: the import package
  `hild` whose subpackages are the top-level folders theory/, simulate/, compare/ (the mapping
  of pyproject.toml), laid out as links, so that no JAX is imported to document it.
- Every name a package exports (`__all__` of hild.theory, hild.simulate, hild.compare) must
  have an entry on its API page, and every rendered example page must match its script
  (docs/examples/render.py writes the pages): otherwise a warning, which `--strict` fails.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
API_SRC = ROOT / "build" / "api-src"
SUBPACKAGES = {"theory": "theory", "simulate": "simulate", "compare": "compare"}
log = logging.getLogger("mkdocs.hooks.hild")


def _api_tree() -> None:
    """build/api-src/hild: hild/'s files and the three subpackage folders, as symlinks."""
    package = API_SRC / "hild"
    shutil.rmtree(API_SRC, ignore_errors=True)
    package.mkdir(parents=True)
    for path in (ROOT / "hild").iterdir():
        if path.suffix in (".py", ".typed"):
            shutil.copy(path, package / path.name)  # copied: griffe resolves links to files
    for name, folder in SUBPACKAGES.items():
        (package / name).symlink_to(ROOT / folder, target_is_directory=True)


def exported_names(subpackage: str) -> list[str]:
    """The `_EXPORTS` keys of a subpackage's __init__.py, read without importing it."""
    tree = ast.parse((ROOT / SUBPACKAGES[subpackage] / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "_EXPORTS"
                                                for t in node.targets):
            return [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
    return []


def source_digest(script: Path) -> str:
    """The digest of an example script that its rendered page records."""
    return hashlib.sha256(script.read_bytes()).hexdigest()[:16]


def on_startup(command, dirty, **kwargs):
    _api_tree()  # before mkdocstrings reads its `paths` (mkdocs.yml)


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    src = page.file.src_uri
    if src == "index.md":
        readme = (ROOT / "README.md").read_text()
        return re.sub(r"\]\(docs/", "](", readme)
    if src.startswith("api/"):
        subpackage = Path(src).stem
        documented = set(re.findall(r"^::: hild\.\S*?(\w+)\s*$", markdown, flags=re.M))
        documented |= set(re.findall(r"^\| `(\w+)` \|", markdown, flags=re.M))  # constants
        missing = [n for n in exported_names(subpackage) if n not in documented]
        if missing:
            log.warning(f"{src}: no entry for the exported names {', '.join(missing)}")
    if src.startswith("examples/") and src != "examples/index.md":
        script = ROOT / "docs" / "examples" / (Path(src).stem + ".py")
        found = re.search(r"<!-- source: (\w+) -->", markdown)
        if not script.exists() or not found or found.group(1) != source_digest(script):
            log.warning(f"{src} is not the rendering of {script.name}: run "
                        "python docs/examples/render.py")
    return markdown
