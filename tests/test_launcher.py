"""One reading of WORLD_SIZE for the whole pipeline (the dry run, the phases' step counts, single-phase commands)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from srd_core.launcher import world_size
from srd_core.pipeline import dry_run


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 1), ("", 1), ("1", 1), ("2", 2), ("8", 8), ("0", 1), ("-3", 1), ("two", 1)]
)
def test_world_size(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("WORLD_SIZE", value)
    assert world_size() == expected
    assert dry_run.default_processes() == expected


@pytest.mark.parametrize("value", ["", "1", "0", "two"])
def test_a_single_process_command_sets_up_no_process_group(value):
    """A WORLD_SIZE that names no process count is one process for accelerate too (it failed on "" and "two")."""
    code = (
        "from srd_core.reflection.reflect import default_accelerator; from srd_core.models.runtime import "
        "make_accelerator; a = default_accelerator(); b = make_accelerator('no'); a.wait_for_everyone(); "
        "print(a.is_main_process, a.num_processes, b.num_processes)"
    )
    env = {**os.environ, "WORLD_SIZE": value}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "1", "1"]
