"""Output places that refuse writes (even as root), a folder removed during a run and two
runs writing the same -o at once: one line (exit 2) or a clean result, never a partial set
(issue 25). Errors are injected at the write layer for the class of cases, plus real
special filesystems."""

import errno
import os
import shutil
import tempfile

import pytest

from hild.compare import commands, output
from hild.compare.output import OutputFolder
from hild.theory import ConfigError
from hild.theory.atomic import atomic_write_text

CODES = [errno.EROFS, errno.EACCES, errno.ENOSPC, errno.ENOENT]


def _refuse(code):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code), "injected")
    return fail


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".out"))


@pytest.mark.parametrize("code", CODES, ids=errno.errorcode.get)
def test_a_place_that_refuses_writes_is_refused_before_the_run(tmp_path, monkeypatch, code):
    monkeypatch.setattr(tempfile, "mkdtemp", _refuse(code))  # the probe of `check`
    with pytest.raises(ConfigError, match=r"^-o/--output: cannot create .*" + os.strerror(code)):
        OutputFolder(tmp_path / "out").check()


@pytest.mark.parametrize("place", ["/proc/hild-out", "/sys/hild-out", "/proc/self/hild-out"])
def test_special_filesystems_are_refused_in_one_line(place):
    if os.path.exists(place):
        pytest.skip(f"{place} exists here")
    with pytest.raises(ConfigError) as err:
        OutputFolder(place).check()
    assert "\n" not in str(err.value) and "cannot create" in str(err.value)


@pytest.mark.parametrize("code", CODES, ids=errno.errorcode.get)
def test_a_write_refused_mid_run_leaves_the_previous_set(tmp_path, monkeypatch, code):
    out = tmp_path / "out"
    with commands._staged(OutputFolder(out).check()) as folder:
        atomic_write_text(folder / "a.txt", "old")
    monkeypatch.setattr(os, "fsync", _refuse(code))  # every atomic write fails
    with pytest.raises(ConfigError, match="could not write .*nothing was written"):
        with commands._staged(OutputFolder(out).check()) as folder:
            atomic_write_text(folder / "a.txt", "new")
    assert (out / "a.txt").read_text() == "old" and not _leftovers(tmp_path)


def test_a_folder_removed_during_the_run(tmp_path):
    out = tmp_path / "deep" / "out"
    with pytest.raises(ConfigError, match="could not write"):
        with commands._staged(OutputFolder(out).check()) as folder:
            shutil.rmtree(tmp_path / "deep")
            atomic_write_text(folder / "a.txt", "new")
    assert not (tmp_path / "deep").exists() or not _leftovers(tmp_path / "deep")
    with commands._staged(OutputFolder(out).check()) as folder:  # the next run recreates it
        atomic_write_text(folder / "a.txt", "new")
    assert (out / "a.txt").read_text() == "new"


def test_two_runs_writing_the_same_place_at_once(tmp_path):
    out = tmp_path / "out"
    first, second = OutputFolder(out).check(), OutputFolder(out).check()
    with commands._staged(first) as a:
        with commands._staged(second) as b:  # its recovery keeps the live staging of `first`
            atomic_write_text(b / "x.txt", "second")
        atomic_write_text(a / "x.txt", "first")
    assert (out / "x.txt").read_text() == "first" and (out / output.MARKER).exists()
    assert sorted(p.name for p in out.iterdir()) == [output.MARKER, "x.txt"]
    assert not _leftovers(tmp_path)
