"""A `prepare` killed mid-way (SIGKILL: no cleanup runs) leaves nothing behind once it is rerun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from test_prepare import micro_raw

from srd_core.config import config_from_dict
from srd_core.models.prepare import prepare


def test_rerun_removes_the_staging_dir_of_a_killed_prepare(tmp_path):
    run_dir = tmp_path / "killed"
    slow = micro_raw(run_dir)
    slow["prepare"]["teacher_sft"]["steps"] = 100_000  # runs until killed
    path = tmp_path / "slow.yaml"
    path.write_text(yaml.safe_dump(slow))
    srd = Path(sys.executable).parent / "srd"
    proc = subprocess.Popen(
        [str(srd), "prepare", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    staging = run_dir / f".prepared.tmp-{proc.pid}"
    try:
        deadline = time.monotonic() + 240
        while not (staging / "tokenizer").is_dir() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (staging / "tokenizer").is_dir()  # the killed run's half-built models

    result = prepare(config_from_dict(micro_raw(run_dir)), progress=False)
    assert not result.skipped
    left = sorted(p.name for p in run_dir.iterdir())
    assert "prepared" in left and not [name for name in left if name.startswith(".prepared.tmp")], left
