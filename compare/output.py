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

import errno
import os
import shutil
import tempfile
from pathlib import Path

from .interrupts import ACTIVE, SWAP_LOCK, held
from hild.theory import ConfigError

MARKER = ".hild-output"
_STAGING, _OLD = ".staging-", ".replaced-"


def _writer_alive(staging: Path) -> bool:
    """Whether the process that named a staging folder `.<name>.staging-<pid>-...` still runs
    (another run writing the same -o at once keeps its folder; a killed run's is stale)."""
    try:
        pid = int(staging.name.split(_STAGING, 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():  # this process: alive while one of its runs is staging there
        return any(out.staging == staging for out in ACTIVE)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        for stale in old + [p for p in self._siblings(_STAGING) if not _writer_alive(p)]:
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
        if not parent.is_dir():
            raise ConfigError(f"{self.field}: cannot create {path} ({parent} is not a folder)")
        self._probe(parent, f"cannot create {path}")
        if path.is_dir():
            self._probe(path.parent if replace else path, f"cannot replace {path}")
        return self

    def _probe(self, folder: Path, what: str) -> None:
        """Create and remove a folder in `folder`: permission bits say nothing as root, and
        a read-only or special filesystem (a bind mount, /proc, /sys) refuses only a write."""
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".hild-probe-", dir=folder))
        except OSError as err:
            raise ConfigError(f"{self.field}: {what} ({folder}: {err.strerror or err})") from None

    def failed(self, err: OSError) -> ConfigError:
        """The one line of a write that failed during the run (disk full, folder removed,
        another run's swap in the way); nothing of this run's set is left behind."""
        where = err.filename or self.path
        return ConfigError(f"{self.field}: could not write {self.path} ({where}: "
                           f"{err.strerror or err}); nothing was written")

    def stage(self) -> Path:
        """A fresh, empty sibling folder to write the new set into."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.recover()
        self.staging = Path(tempfile.mkdtemp(prefix=f".{self.path.name}{_STAGING}{os.getpid()}-",
                                             dir=self.path.parent))
        (self.staging / MARKER).write_text("written by hild; the whole folder is replaced "
                                           "by each run\n")
        return self.staging

    def commit(self) -> Path:
        """Swap the staged set into place (the previous set is removed only afterwards)."""
        if self.staging is None:
            raise RuntimeError("nothing staged")
        if not (self.staging / MARKER).is_file():  # removed during the run, then recreated
            raise FileNotFoundError(errno.ENOENT, "the folder was removed during the run",
                                    str(self.staging.parent))
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
