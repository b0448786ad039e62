"""The output folder of a run, written as one set: all files or none of them.

`OutputFolder.check` runs before any computation: the folder must be creatable and, if it
exists, be a folder that hild wrote before (it holds `MARKER`) or an empty one, so a run
never mixes its files with a user's or with an earlier run's. The files are then written
into a fresh sibling folder, which replaces the old one at the end (`commit`); SIGINT and
SIGTERM are held back during that swap, and a swap cut short by a hard kill is finished or
undone by the next run (`recover`). A reader therefore sees the complete previous set or
the complete new one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .interrupts import SWAP_LOCK, held
from hild.theory import ConfigError

MARKER = ".hild-output"
_STAGING, _OLD = ".staging-", ".replaced-"


class OutputFolder:
    """The -o folder of a run; files go to `staging` until `commit()`."""

    def __init__(self, path: str | os.PathLike, field: str = "-o/--output"):
        text = os.fspath(path)
        if not text.strip():
            raise ConfigError(f"{field}: give a folder name (got an empty string)")
        self.path = Path(text).expanduser().absolute()
        self.field = field
        self.staging: Path | None = None

    def _siblings(self, prefix: str) -> list[Path]:
        parent = self.path.parent
        if not parent.is_dir():
            return []
        return sorted(parent.glob(f".{self.path.name}{prefix}*"))

    def recover(self) -> None:
        """Finish a swap that a hard kill cut short, and drop stale staging folders."""
        old = self._siblings(_OLD)
        if old and not self.path.exists():
            os.replace(old[-1], self.path)  # the new set never arrived: restore the previous
            old = old[:-1]
        for stale in old + self._siblings(_STAGING):
            shutil.rmtree(stale, ignore_errors=True)

    def check(self, *, replace: bool = True) -> "OutputFolder":
        """Refuse, before any computation, an output place that cannot take the run
        (`replace=False`: files are added to the folder one by one, e.g. by `hild bench`)."""
        path = self.path
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{self.field}: {path} exists and is not a folder")
        if replace and path.is_dir():
            entries = [p.name for p in path.iterdir()]
            if entries and MARKER not in entries:
                raise ConfigError(f"{self.field}: {path} holds files that hild did not write "
                                  f"({entries[0]}, ...); choose a new or empty folder")
        parent = path.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise ConfigError(f"{self.field}: cannot create {path} ({parent} is not writable)")
        if path.is_dir() and not os.access(path.parent if replace else path, os.W_OK | os.X_OK):
            raise ConfigError(f"{self.field}: cannot replace {path} "
                              f"({path.parent} is not writable)")
        return self

    def stage(self) -> Path:
        """A fresh, empty sibling folder to write the new set into."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.recover()
        self.staging = Path(tempfile.mkdtemp(prefix=f".{self.path.name}{_STAGING}",
                                             dir=self.path.parent))
        (self.staging / MARKER).write_text("written by hild; the whole folder is replaced "
                                           "by each run\n")
        return self.staging

    def commit(self) -> Path:
        """Swap the staged set into place (the previous set is removed only afterwards)."""
        if self.staging is None:
            raise RuntimeError("nothing staged")
        with SWAP_LOCK, held():
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.staging, 0o777 & ~umask)  # mkdtemp makes 0700
            old = None
            if self.path.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{self.path.name}{_OLD}",
                                            dir=self.path.parent))
                os.replace(self.path, old)
            os.replace(self.staging, self.path)
            self.staging = None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.path

    def discard(self) -> None:
        """Remove the staged set (the run failed or was interrupted)."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
