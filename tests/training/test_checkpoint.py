"""Checkpoints: atomic, rotated, exact round trip; a run killed mid-stage resumes to the same result."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from paths import TRAIN_WORKER
from safetensors.torch import load_file
from tiny import tiny_llama
from tiny_run import make_workspace, read_rows, write_config, write_curation

from srd_core.components import StagePlan
from srd_core.config import TrainConfig, load_config
from srd_core.training.checkpoint import (
    TrainState,
    latest_checkpoint,
    list_checkpoints,
    load_training_state,
    load_weights,
    read_state,
    save_checkpoint,
)
from srd_core.training.loop import train
from srd_core.training.optim import build_lr_scheduler, build_optimizer

WORKER = TRAIN_WORKER
TIMING_FIELDS = {"wall_time", "tokens_per_s", "teacher_share"}


def _state(step: int) -> TrainState:
    return TrainState(
        step=step,
        stage=1,
        step_in_stage=2,
        epoch=0,
        batch=2,
        tokens=100,
        response_tokens=40,
        wall_time=1.5,
        skipped_steps=0,
        stages=[StagePlan(["a", "b"], 1.0), StagePlan(["a"], 2.5)],
    )


def test_round_trip_rotation_and_interrupted_writes(tmp_path):
    accelerator = Accelerator()
    model = tiny_llama(64, 16, 1, 2, seed=0)
    cfg = TrainConfig(lr=1e-2)
    optimizer = build_optimizer(model, cfg)
    scheduler = build_lr_scheduler(optimizer, cfg, 10)
    model(input_ids=torch.arange(8)[None], labels=torch.arange(8)[None]).loss.backward()
    optimizer.step()
    scheduler.step()

    for step in (1, 2, 3):
        save_checkpoint(tmp_path, _state(step), accelerator, model, optimizer, scheduler, keep=2)
    (tmp_path / ".tmp-step-0000004").mkdir()  # a write that died before its rename
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-0000002", "step-0000003"]
    latest = latest_checkpoint(tmp_path)
    assert latest.name == "step-0000003"
    assert read_state(latest) == _state(3)

    expected = [random.random(), np.random.rand(), torch.rand(1).item()]
    other = tiny_llama(64, 16, 1, 2, seed=1)
    other_opt = build_optimizer(other, cfg)
    other_sched = build_lr_scheduler(other_opt, cfg, 10)
    load_weights(latest, other)
    load_training_state(latest, accelerator, other_opt, other_sched)
    assert [random.random(), np.random.rand(), torch.rand(1).item()] == expected
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True))
    assert other_sched.state_dict()["last_epoch"] == 1
    moments = [s["exp_avg"] for s in optimizer.state_dict()["state"].values()]
    restored = [s["exp_avg"] for s in other_opt.state_dict()["state"].values()]
    assert all(torch.equal(a, b) for a, b in zip(moments, restored, strict=True))


@contextlib.contextmanager
def single_thread():
    """Run torch on one thread inside the block."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run_worker(config: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "SRD_LOAD_PLUGINS": ""}
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(config), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _comparable(rows):
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rows]


@pytest.mark.slow
def test_resume_after_a_real_kill_matches_an_uninterrupted_run(tmp_path):
    ws = make_workspace(tmp_path)
    train_section = {"checkpoint_every": 4, "keep_checkpoints": 2}
    curriculum = {"pacer": {"name": "baby_step", "num_bins": 3, "epochs_per_stage": 2}}
    configs = {}
    for name in ("full", "killed"):
        write_curation(ws / name, [f"s{i}" for i in range(24)])
        configs[name] = write_config(ws, name, curriculum=curriculum, train=train_section)

    # stages of 4, 6 and 10 steps; checkpoints after steps 4, 8, 10, 12, 16; killed after step 18
    marker = tmp_path / "paused"
    killed = _run_worker(configs["killed"], "--pause-at", "18", str(marker))
    with single_thread():  # the uninterrupted run, meanwhile, in this process (as the workers: 1 thread)
        train(load_config(configs["full"]), ws / "full", "srd")
    deadline = time.time() + 120
    while not marker.exists():
        assert killed.poll() is None, killed.communicate()[0]
        assert time.time() < deadline, "the run never reached the pause"
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    checkpoints = ws / "killed" / "srd" / "checkpoints"
    assert [p.name for p in list_checkpoints(checkpoints)] == ["step-0000012", "step-0000016"]
    assert read_state(latest_checkpoint(checkpoints)).step_in_stage == 6  # mid-stage 3, in its 2nd epoch
    assert read_rows(ws / "killed" / "srd" / "metrics.jsonl")[-1]["step"] == 18

    resumed = _run_worker(configs["killed"])
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    assert "resumed_from_step=16 steps=20" in out

    full_rows = read_rows(ws / "full" / "srd" / "metrics.jsonl")
    resumed_rows = read_rows(ws / "killed" / "srd" / "metrics.jsonl")
    assert [r["step"] for r in resumed_rows] == list(range(1, 21))
    assert _comparable(resumed_rows) == _comparable(full_rows)
    a = load_file(ws / "full" / "srd" / "final" / "model.safetensors")
    b = load_file(ws / "killed" / "srd" / "final" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
