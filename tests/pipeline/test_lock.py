"""The run-dir lock: one holder at a time, named in the refusal; a dead holder's lock is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from srd_core.pipeline.lock import RunDirLocked, run_dir_lock

HOLD = """
import sys, time
from srd_core.pipeline.lock import run_dir_lock
with run_dir_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def _info(run_dir):
    text = (run_dir / ".lock").read_text()
    return json.loads(text) if text.strip() else None


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path):
    run_dir = tmp_path / "run"
    with run_dir_lock(run_dir):
        info = _info(run_dir)
        assert info["pid"] == os.getpid() and info["started"] and info["host"]
        (run_dir / "artifact").write_text("x")
        refused = pytest.raises(RunDirLocked, match=rf"{run_dir}: in use by pid {os.getpid()} \(started ")
        with refused, run_dir_lock(run_dir):
            pass
    assert _info(run_dir) is None  # released cleanly: no holder left behind
    with run_dir_lock(run_dir):  # and free again
        pass


def test_a_run_dir_left_empty_is_removed_with_the_parents_it_created(tmp_path):
    """A command that stops before writing anything (bad data) leaves no run dir behind; one that wrote
    something, or a dir that existed before, stays."""
    run_dir = tmp_path / "runs" / "new"
    with pytest.raises(ValueError), run_dir_lock(run_dir):
        raise ValueError("bad data")
    assert not (tmp_path / "runs").exists()
    existing = tmp_path / "old"
    existing.mkdir()
    with run_dir_lock(existing):
        pass
    assert existing.is_dir()
    with run_dir_lock(run_dir):
        (run_dir / "prepared").mkdir()
    assert (run_dir / "prepared").is_dir() and _info(run_dir) is None


def test_a_lock_file_removed_between_open_and_flock_is_not_taken(tmp_path, monkeypatch):
    """A holder that leaves its run dir empty removes the lock file; a command that opened that file just
    before must not hold the orphan (a third command would then lock a new file: two holders)."""
    import fcntl

    from srd_core.pipeline import lock

    run_dir = tmp_path / "runs" / "x"
    real_flock, removed = fcntl.flock, []

    def flock(fd, operation):
        if not removed and operation & fcntl.LOCK_EX:  # the first holder exits between our open and flock
            removed.append(True)
            os.unlink(run_dir / ".lock")
            os.rmdir(run_dir)
        return real_flock(fd, operation)

    monkeypatch.setattr(lock.fcntl, "flock", flock)
    with run_dir_lock(run_dir):
        assert removed and (run_dir / ".lock").is_file()
        monkeypatch.setattr(lock.fcntl, "flock", real_flock)
        with pytest.raises(RunDirLocked), run_dir_lock(run_dir):  # the lock held is the one at the path
            pass
        (run_dir / "artifact").write_text("x")


def test_other_ranks_of_the_holding_job_proceed(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    with run_dir_lock(run_dir):
        monkeypatch.setenv("RANK", "1")
        with run_dir_lock(run_dir):  # rank 1 relies on rank 0's lock
            pass


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path):
    run_dir = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirLocked, match=f"pid {holder.pid} "), run_dir_lock(run_dir):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert _info(run_dir)["pid"] == holder.pid  # the dead process's details are still in the file
    start = time.monotonic()
    with run_dir_lock(run_dir):
        assert _info(run_dir)["pid"] == os.getpid()
    assert time.monotonic() - start < 5
