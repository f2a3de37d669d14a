"""Checkpoints by wall time (train.checkpoint_minutes, 10 by default), so a kill loses little."""

from __future__ import annotations

from tiny_run import make_config, make_workspace

from srd_core.config import TrainConfig
from srd_core.training.loop import train


def test_default_is_every_ten_minutes():
    assert TrainConfig().checkpoint_minutes == 10.0


def test_a_due_wall_time_checkpoints_after_the_step(tmp_path):
    ws = make_workspace(tmp_path)
    # 1e-9 minutes: due after every step; checkpoint_every 0: no step-count checkpoints at all
    cfg = make_config(
        ws, "wall", train={"checkpoint_minutes": 1e-9, "checkpoint_every": 0, "keep_checkpoints": 99, "max_steps": 4}
    )
    train(cfg, cfg.run.dir, "srd")
    names = sorted(p.name for p in (cfg.run.dir / "srd" / "checkpoints").iterdir())
    assert names == [f"step-{s:07d}" for s in (1, 2, 3, 4)]  # 1-3 by wall time, 4 at the stage end

    off = make_config(ws, "off", train={"checkpoint_minutes": 0, "checkpoint_every": 0, "max_steps": 4})
    train(off, off.run.dir, "srd")
    assert sorted(p.name for p in (off.run.dir / "srd" / "checkpoints").iterdir()) == ["step-0000004"]
