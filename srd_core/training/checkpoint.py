"""Training checkpoints: written atomically (temp dir + rename), the last K kept, resumed exactly.

A checkpoint ``checkpoints/step-0000120/`` holds the student weights (``model.safetensors``), the
optimizer, LR-scheduler and grad-scaler states, one RNG-state file per process and ``state.json``:
the step, the position (stage, step within the stage, epoch, batch), token counts, wall time and
the stage plans (hooks may edit them, so they are part of the state).
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model, save_model

from srd_core.components import StagePlan
from srd_core.errors import TrainingError
from srd_core.io import write_json_atomic

STATE_FILE = "state.json"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
SCHEDULER_FILE = "scheduler.pt"
SCALER_FILE = "scaler.pt"
RESPONSES_FILE = "responses.json"
"""The response source's state (random stream, replay buffer, counts) when ``train.responses`` generates."""


@dataclass
class TrainState:
    """Everything besides tensors that a resumed run needs to continue exactly where it stopped."""

    step: int
    """Optimizer steps done (the next step has this 0-based index)."""
    stage: int
    """The stage to continue with (0-based)."""
    step_in_stage: int
    """Steps of ``stage`` already done (0: the stage has not started)."""
    epoch: int
    """Epoch within the stage of the next step (informational; derived from ``step_in_stage``)."""
    batch: int
    """Batch index within that epoch of the next step (informational)."""
    tokens: int
    """Non-padding tokens trained on so far (all processes)."""
    response_tokens: int
    """Response tokens (those the loss is computed on) so far (all processes)."""
    wall_time: float
    """Seconds of training so far, summed over interrupted runs."""
    skipped_steps: int
    """Steps skipped because their loss was not finite."""
    stages: list[StagePlan]
    """The stage plans, including edits made by ``stage_start`` hooks."""
    world_size: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    teacher_tokens: int = 0
    """Tokens the online teacher ran a forward pass on so far (0 with a cached signal; FLOPs accounting)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> TrainState:
        data = dict(row)
        data["stages"] = [StagePlan(ids=list(s["ids"]), epochs=float(s["epochs"])) for s in row["stages"]]
        return cls(**data)


def checkpoint_name(step: int) -> str:
    """Directory name of the checkpoint after ``step`` optimizer steps."""
    return f"step-{step:07d}"


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first (temp dirs of interrupted writes are ignored)."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-", 1)[1]))


def latest_checkpoint(root: Path) -> Path | None:
    """The newest complete checkpoint, or None."""
    found = list_checkpoints(root)
    return found[-1] if found else None


def rng_state() -> dict[str, Any]:
    """The RNG states of python, numpy and torch (CPU and CUDA) of this process."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states captured by ``rng_state``."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _fsync_files(directory: Path) -> None:
    for path in directory.iterdir():
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())


def check_finite_weights(model: torch.nn.Module, where: str) -> None:
    """Raise ``TrainingError`` (exit 2) if any weight is inf or NaN: such weights are never saved."""
    bad = [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    if bad:
        raise TrainingError(
            f"{where}: {len(bad)} weight tensors are not finite (first: {bad[0]}); nothing was "
            "saved. Lower train.lr (or set train.max_grad_norm) and train again"
        )


def save_checkpoint(
    root: Path,
    state: TrainState,
    accelerator,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    keep: int,
    responses: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint of ``state`` and the training objects atomically; keep the newest ``keep``.

    Every process must call this (each writes its own RNG state); ``model`` is the unwrapped student.
    ``responses`` is the response source's state (the same on every process), written by the main one.
    """
    final = root / checkpoint_name(state.step)
    tmp = root / f".tmp-{final.name}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    torch.save(rng_state(), tmp / f"rng-{accelerator.process_index}.pt")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        save_model(model, str(tmp / MODEL_FILE))
        torch.save(optimizer.state_dict(), tmp / OPTIMIZER_FILE)
        torch.save(scheduler.state_dict(), tmp / SCHEDULER_FILE)
        if accelerator.scaler is not None:
            torch.save(accelerator.scaler.state_dict(), tmp / SCALER_FILE)
        if responses is not None:
            write_json_atomic(tmp / RESPONSES_FILE, responses)
        write_json_atomic(tmp / STATE_FILE, state.to_dict())
        _fsync_files(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in list_checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def read_state(path: Path) -> TrainState:
    """The ``TrainState`` of a checkpoint."""
    return TrainState.from_dict(json.loads((path / STATE_FILE).read_text(encoding="utf-8")))


def load_weights(path: Path, model: torch.nn.Module) -> None:
    """Load the checkpoint's student weights into ``model`` (tied weights handled)."""
    load_model(model, str(path / MODEL_FILE))


def load_responses(path: Path) -> dict[str, Any] | None:
    """The response source's state saved with the checkpoint, or None."""
    file = path / RESPONSES_FILE
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None


def load_training_state(path: Path, accelerator, optimizer: torch.optim.Optimizer, scheduler) -> None:
    """Restore optimizer, LR scheduler, grad scaler and this process's RNG states."""
    optimizer.load_state_dict(torch.load(path / OPTIMIZER_FILE, map_location="cpu", weights_only=True))
    scheduler.load_state_dict(torch.load(path / SCHEDULER_FILE, map_location="cpu", weights_only=False))
    if accelerator.scaler is not None and (path / SCALER_FILE).is_file():
        accelerator.scaler.load_state_dict(torch.load(path / SCALER_FILE, weights_only=True))
    rng_file = path / f"rng-{accelerator.process_index}.pt"
    if rng_file.is_file():  # a run resumed on more processes than it was saved with
        set_rng_state(torch.load(rng_file, weights_only=False))
