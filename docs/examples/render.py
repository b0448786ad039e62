"""Render the example scripts of docs/examples as pages: `python docs/examples/render.py
[NAME ...]` runs each script in this folder (its figures land here), and writes NAME.md with
the script, what it printed and its figures. The pages are committed (the docs build does not
run the examples); each records its script's digest, and `mkdocs build --strict` fails if a
script changed since its page was rendered (docs/hooks.py)."""

from __future__ import annotations

import ast
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from hooks import source_digest  # noqa: E402


def scripts() -> list[Path]:
    return sorted(p for p in HERE.glob("*.py") if p.name != "render.py")


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def render(script: Path) -> None:
    before = {p: p.stat().st_mtime for p in HERE.glob("*.png")}
    start, cpu = time.perf_counter(), _child_cpu()
    env = {**os.environ, "MPLBACKEND": "Agg"}
    run = subprocess.run([sys.executable, script.name], cwd=HERE, env=env, capture_output=True,
                         text=True, check=True)
    seconds, cpu = time.perf_counter() - start, _child_cpu() - cpu
    figures = sorted(p.name for p in HERE.glob(f"{script.stem}*.png")
                     if before.get(p) != p.stat().st_mtime)
    doc = ast.get_docstring(ast.parse(script.read_text())) or ""
    title, _, rest = doc.partition(":")
    source = script.read_text()
    page = [f"<!-- source: {source_digest(script)} -->",
            f"# {title.strip()}", "", rest.strip().replace("\n", " "), "",
            f"Run it: `python docs/examples/{script.name}` (its rendering took {cpu:.0f} CPU-s).",
            "",
            "```python", source.rstrip(), "```", "", "Output:", "", "```text",
            run.stdout.rstrip(), "```", ""]
    for name in figures:
        page += [f"![{Path(name).stem}]({name})", ""]
    (HERE / f"{script.stem}.md").write_text("\n".join(page))
    print(f"{script.name}: {seconds:.1f} s wall, {cpu:.1f} CPU-s, figures {', '.join(figures) or 'none'}")


if __name__ == "__main__":
    names = sys.argv[1:]
    for script in scripts():
        if not names or script.stem in names:
            render(script)
