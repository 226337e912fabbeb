"""The run directory's life cycle: refuse to clobber a run, write nothing before the inputs are good,
and leave nothing behind when a new run fails before its first checkpoint.

* :func:`claim` (before anything is read): an ``--out`` that already holds a
  run is refused (``--resume`` continues it; ``--overwrite`` deletes the run's
  files first). The folder itself is not created here.
* :func:`check_writable`: the folder (or the nearest existing parent) is a
  writable directory with enough free space; nothing is created.
* :func:`cleanup_on_failure`: around a new run; if it fails before ``last.pt``
  exists, the run files it wrote are removed again (and the folder, if it
  made it and it is empty). A stopped run (SIGINT/SIGTERM) keeps its
  ``last.pt`` and everything else, so it can be resumed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from tumorseg.errors import TumorsegError

log = logging.getLogger(__name__)

# what 'tumorseg train' writes into a run directory (see tumorseg.training.fit)
RUN_FILES = ("config.json", "split.json", "history.csv", "loss_curve.png", "best.pt", "last.pt", "grids", "test",
             "report.html")
MARKERS = ("config.json", "best.pt", "last.pt", "history.csv")  # any of these: the folder holds a run


def holds_run(out: Path) -> bool:
    return out.is_dir() and any((out / name).exists() for name in MARKERS)


def remove_run_files(out: Path, names: tuple[str, ...] = RUN_FILES) -> None:
    """Delete the run files ``names`` in ``out`` (other files there are left alone)."""
    for name in names:
        target = out / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()


def claim(out: str | Path, overwrite: bool = False) -> None:
    """Make sure a new run may write into ``out``.

    Raises:
        TumorsegError: ``out`` is a file, or holds a run and ``overwrite`` is not set (the message
            says how to resume it or start over).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise TumorsegError(f"{out}: is a file, not a folder; choose another --out.")
    if not holds_run(out):
        return
    if not overwrite:
        hint = f"continue it with 'tumorseg train --resume {out}', or " if (out / "last.pt").exists() else ""
        raise TumorsegError(f"{out}: already holds a run; {hint}pass --overwrite to start over (deletes its "
                            "checkpoints, history and grids), or choose another --out.")
    log.info("%s: --overwrite: removing the earlier run's files", out)
    remove_run_files(out)


def check_writable(out: Path, need_bytes: int = 0) -> None:
    """Fail now, not after an hour of training, if ``out`` cannot be made and written or lacks ``need_bytes``.

    Creates nothing: checks ``out`` if it exists, else its nearest existing parent.
    """
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise TumorsegError(f"{out}: cannot write the run directory ({probe} is a file). Choose another --out.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise TumorsegError(f"{out}: cannot write the run directory ({probe} is not writable). Choose another --out.")
    free = shutil.disk_usage(probe).free
    if free < need_bytes:
        raise TumorsegError(
            f"{out}: only {free / 2**20:.0f} MiB free on its disk; this run's checkpoints and plots need about "
            f"{need_bytes / 2**20:.0f} MiB. Free some space or choose another --out."
        )


@contextlib.contextmanager
def cleanup_on_failure(out: str | Path, enabled: bool = True) -> Iterator[None]:
    """Remove what a new run wrote into ``out`` if the block raises before ``out/last.pt`` exists."""
    out = Path(out)
    existed = out.exists()
    before = {name for name in RUN_FILES if (out / name).exists()}
    try:
        yield
    except BaseException:
        if enabled and not (out / "last.pt").exists():
            remove_run_files(out, tuple(n for n in RUN_FILES if n not in before))
            if not existed and out.is_dir() and not any(out.iterdir()):
                out.rmdir()
        raise


__all__ = ["RUN_FILES", "check_writable", "claim", "cleanup_on_failure", "holds_run", "remove_run_files"]
