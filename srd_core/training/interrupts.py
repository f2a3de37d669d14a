"""Stopping training cleanly: SIGTERM (preemption) and SIGINT (Ctrl-C) both checkpoint first.

``StopGuard`` is installed for the training loop. Either signal only records itself; after the current
optimizer step the loop writes a checkpoint and raises ``Interrupted`` (exit 143 for SIGTERM, 130 for
SIGINT) naming the step the rerun resumes from. A repeated signal changes nothing (the checkpoint is
being written). The guard also says when a wall-time checkpoint is due (``train.checkpoint_minutes``).
With several processes, both decisions are agreed on by all of them (one max all-reduce per step), so
every process checkpoints at the same step.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator

from srd_core.errors import Interrupted
from srd_core.signals import STOP_SIGNALS, ignore_stop_signals, stops_once


class StopGuard:
    """The stop signal received (if any) and the wall-time checkpoint clock of one training run."""

    def __init__(self, checkpoint_minutes: float) -> None:
        self.interval = checkpoint_minutes * 60.0
        self.last_checkpoint = time.monotonic()
        self.signum: int | None = None

    def checkpointed(self) -> None:
        """Restart the wall-time clock (a checkpoint was just written)."""
        self.last_checkpoint = time.monotonic()

    def poll(self, accelerator) -> tuple[bool, int | None]:
        """(a wall-time checkpoint is due, the stop signal received or None), agreed over all processes (the
        larger signal number when they differ: SIGTERM)."""
        due = self.interval > 0 and time.monotonic() - self.last_checkpoint >= self.interval
        if accelerator.num_processes > 1:
            import torch  # deferred: torch

            tensor = torch.tensor([float(due), float(self.signum or 0)], device=accelerator.device)
            due_all, signum_all = accelerator.reduce(tensor, reduction="max").tolist()
            return bool(due_all), int(signum_all) or None
        return due, self.signum

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopGuard]:
        """SIGTERM and SIGINT record themselves while the block runs (main thread only; a SIGINT inherited as
        ignored stays ignored). Afterwards the old handlers come back, unless a signal came and the process
        stops at the first one (the CLI's): then later signals stay ignored while it exits."""

        def on_signal(signum, frame) -> None:
            self.signum = self.signum or signum

        previous = {}
        try:
            for signum in STOP_SIGNALS:
                if signal.getsignal(signum) is not signal.SIG_IGN:
                    previous[signum] = signal.signal(signum, on_signal)
        except ValueError:  # not the main thread: signals stay as they are
            yield self
            return
        try:
            yield self
        finally:
            if self.signum is not None and any(stops_once(h) for h in previous.values()):
                ignore_stop_signals()
            else:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)


def interrupted(phase: str, signum: int, step: int, total: int, resume_step: int | None) -> Interrupted:
    """The one-line ``Interrupted`` of a training phase."""
    resume = f"resume from step {resume_step}" if resume_step else "start again from step 0 (no checkpoint yet)"
    return Interrupted(f"interrupted in {phase} at step {step}/{total}; rerun the same command to {resume}", signum)
