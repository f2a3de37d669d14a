"""Training the arms side by side: threads shared out, a failing arm named in one error."""

from __future__ import annotations

import pytest
from tiny_run import make_config, make_workspace

from srd_core.errors import TrainingError
from srd_core.pipeline.arms import threads_per_arm, train_arms_in_parallel


def test_threads_are_shared_out(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert threads_per_arm(2) == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads_per_arm(2) == 1


def test_a_failing_arm_is_named_and_its_config_file_removed(tmp_path):
    ws = make_workspace(tmp_path / "ws", n_samples=8)
    config = make_config(ws, "arms")
    run_dir = config.run.dir
    run_dir.mkdir(parents=True)
    with pytest.raises(TrainingError, match=r"training the arms in parallel failed: nope \(exit code 1\)"):
        train_arms_in_parallel(config, run_dir, ["nope"])
    assert not (run_dir / ".arms-config.json").exists()
