"""Stopping training cleanly: SIGTERM (preemption) checkpoints first, SIGINT (Ctrl-C) stops at once.

``StopGuard`` is installed for the training loop. SIGTERM only sets a flag; after the current
optimizer step the loop writes a checkpoint and raises ``Interrupted`` (exit 143). SIGINT raises
``KeyboardInterrupt`` as usual, turned into ``Interrupted`` (exit 130) naming the step the rerun
resumes from (the newest checkpoint). The guard also says when a wall-time checkpoint is due
(``train.checkpoint_minutes``). With several processes, both decisions are agreed on by all of them
(one max all-reduce per step), so every process checkpoints at the same step.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator

import torch

from srd_core.errors import Interrupted


class StopGuard:
    """The SIGTERM flag and the wall-time checkpoint clock of one training run."""

    def __init__(self, checkpoint_minutes: float) -> None:
        self.interval = checkpoint_minutes * 60.0
        self.last_checkpoint = time.monotonic()
        self.terminated = False

    def checkpointed(self) -> None:
        """Restart the wall-time clock (a checkpoint was just written)."""
        self.last_checkpoint = time.monotonic()

    def poll(self, accelerator) -> tuple[bool, bool]:
        """(a wall-time checkpoint is due, SIGTERM was received), agreed over all processes."""
        due = self.interval > 0 and time.monotonic() - self.last_checkpoint >= self.interval
        flags = (due, self.terminated)
        if accelerator.num_processes > 1:
            tensor = torch.tensor([float(f) for f in flags], device=accelerator.device)
            flags = tuple(bool(v) for v in accelerator.reduce(tensor, reduction="max").tolist())
        return flags

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopGuard]:
        """SIGTERM sets the flag while the block runs (main thread only); the old handler comes back."""
        def on_term(signum, frame) -> None:
            self.terminated = True

        try:
            previous = signal.signal(signal.SIGTERM, on_term)
        except ValueError:  # not the main thread: signals stay as they are
            yield self
            return
        try:
            yield self
        finally:
            signal.signal(signal.SIGTERM, previous)


def interrupted(phase: str, signum: int, step: int, total: int, resume_step: int | None) -> Interrupted:
    """The one-line ``Interrupted`` of a training phase."""
    resume = f"resume from step {resume_step}" if resume_step else "start again from step 0 (no checkpoint yet)"
    return Interrupted(f"interrupted in {phase} at step {step}/{total}; rerun the same command to {resume}", signum)
