"""The run-dir lock: one command (one torchrun job) at a time writes a run directory.

Rank 0 of a job takes an exclusive ``flock`` on ``<run_dir>/.lock`` for the whole command and
writes who holds it (pid, start time, host, command, job id) into the file; the other ranks of the
same job proceed (if rank 0 cannot take the lock it exits with code 2 and the launcher stops the
job). A second command fails at once with one line naming the holder. The kernel drops a flock when
its process dies, so a lock left by a killed command is simply taken over; the holder information
it left behind is then replaced (and reported at debug level).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from srd_core.errors import SRDError
from srd_core.rundir import LOCK_FILE

logger = logging.getLogger(__name__)


class RunDirLocked(SRDError):
    """Another command holds the run directory."""


def holder_info() -> dict[str, Any]:
    """Who this process is, as written into the lock file."""
    return {
        "pid": os.getpid(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "job": os.environ.get("TORCHELASTIC_RUN_ID"),
    }


def _read_info(fd: int) -> dict[str, Any] | None:
    try:
        text = os.pread(fd, 1 << 16, 0).decode("utf-8", errors="replace")
        info = json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def describe_holder(info: dict[str, Any] | None) -> str:
    """``pid 123 (started 2026-12-01T10:40:00+00:00 on host, `srd run x.yaml`)``."""
    if not info:
        return "another process (it has not written its details yet)"
    job = f", job {info['job']}" if info.get("job") else ""
    return f"pid {info.get('pid')} (started {info.get('started')} on {info.get('host')}{job}: `{info.get('command')}`)"


def _rank() -> int:
    try:
        return int(os.environ.get("RANK", "0") or 0)
    except ValueError:
        return 0


def _missing_dirs(path: Path) -> list[Path]:
    """``path`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _remove_if_unused(run_dir: Path, created: list[Path]) -> None:
    """Remove a run dir this command created when it holds nothing but the lock (the command stopped before
    writing anything, e.g. on bad data), then the parents it created that are empty: nothing half-written."""
    try:
        if os.listdir(run_dir) != [LOCK_FILE]:
            return
        os.unlink(run_dir / LOCK_FILE)
        for directory in created:
            os.rmdir(directory)
    except OSError:  # another command has started writing there: leave it
        return


def _take(run_dir: Path) -> tuple[list[Path], int]:
    """(the directories created for it, the fd of the locked lock file) of ``run_dir``; ``RunDirLocked``
    when another command holds it.

    A lock file can be removed by its holder (a run dir left empty, see ``_remove_if_unused``) while
    another command has it open: that command's flock then holds a file no longer in the directory, so
    the lock counts only when the locked file is still the one at the path; otherwise it tries again.
    """
    for _ in range(100):
        created = _missing_dirs(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _read_info(fd)
            os.close(fd)
            raise RunDirLocked(
                f"{run_dir}: in use by {describe_holder(info)}; wait for it to finish, or use another run.name"
            ) from None
        try:
            current = os.stat(run_dir / LOCK_FILE).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            return created, fd
        os.close(fd)  # the file was removed after we opened it: take the new one
    raise RunDirLocked(f"{run_dir}: its lock file keeps being replaced; is another command cleaning it?")


@contextlib.contextmanager
def run_dir_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold the lock of ``run_dir`` (created here) for the block; ``RunDirLocked`` if another command has it."""
    if _rank() != 0:  # one lock per job: rank 0 holds it for every process of the job
        yield
        return
    run_dir = Path(run_dir)
    created, fd = _take(run_dir)
    try:
        left = _read_info(fd)
        if left:
            logger.debug("took over the lock of %s left by %s", run_dir, describe_holder(left))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder_info()).encode(), 0)
        os.fsync(fd)
        start = time.monotonic()
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # a clean exit leaves no holder behind
            if created:
                _remove_if_unused(run_dir, created)
            fcntl.flock(fd, fcntl.LOCK_UN)
            logger.debug("released the lock of %s after %.1fs", run_dir, time.monotonic() - start)
    finally:
        os.close(fd)
