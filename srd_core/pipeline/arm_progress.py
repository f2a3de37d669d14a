"""One progress line per arm while arms train side by side, with the arms' own log lines above it.

Each arm's child process writes its bar-free log lines to a pipe; the parent prints them and, on a
terminal, keeps a live block below them with one line per arm (step / total, loss, ETA) read from the
arm's ``metrics.jsonl``; elsewhere (a log file, CI) it prints that status as one line every minute.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from srd_core.io import read_last_row
from srd_core.rundir import METRICS_FILE

STATUS_EVERY_S = 60.0
"""Seconds between status lines when the output is not a terminal."""


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def arm_line(run_dir: Path, label: str, elapsed: float, finished: bool) -> str:
    """``srd  120/380 steps  loss 0.312  ETA 45 s`` from the arm's last metrics row."""
    if finished:
        return f"{label}: done in {_duration(elapsed)}"
    row = read_last_row(Path(run_dir) / label / METRICS_FILE)
    if row is None or not isinstance(row.get("step"), int):
        return f"{label}: starting"
    step, total = row["step"], row.get("total_steps")
    text = f"{label}: step {step}" + (f"/{total}" if isinstance(total, int) else "")
    if isinstance(row.get("loss"), (int, float)):
        text += f", loss {row['loss']:.3f}"
    trained = row.get("wall_time")
    if isinstance(total, int) and step > 0 and isinstance(trained, (int, float)) and trained > 0:
        text += f", ETA {_duration(trained / step * max(total - step, 0))}"
    return text


class ArmProgress:
    """Forwards the arms' output and shows where each arm stands (see the module docstring)."""

    def __init__(self, run_dir: Path, labels: Sequence[str], stream: IO[str] | None = None) -> None:
        self.run_dir, self.labels = Path(run_dir), list(labels)
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self.finished: dict[str, float] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._live = None
        self._last_status = self.started
        if self.stream.isatty():
            from rich.console import Console  # deferred: rich
            from rich.live import Live  # deferred: rich

            self._live = Live(self._render(), console=Console(file=self.stream), refresh_per_second=2, transient=True)
            self._live.start()

    def _render(self):
        from rich.text import Text  # deferred: rich

        return Text("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """The status of every arm, one line each."""
        now = time.perf_counter() - self.started
        return [
            arm_line(self.run_dir, label, self.finished.get(label, now), label in self.finished)
            for label in self.labels
        ]

    def forward(self, pipe: Iterable[str]) -> None:
        """Print every line a child writes (in a thread of its own), above the live block."""

        def pump() -> None:
            for line in pipe:
                self.print(line.rstrip("\n"))

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        self._threads.append(thread)

    def print(self, line: str) -> None:
        with self._lock:
            if self._live is not None:
                self._live.console.print(line, markup=False, highlight=False, soft_wrap=True)
            else:
                self.stream.write(line + "\n")
                self.stream.flush()

    def done(self, label: str, seconds: float) -> None:
        self.finished[label] = seconds

    def tick(self) -> None:
        """Refresh the live block, or print the status line when a minute has passed (no terminal)."""
        if self._live is not None:
            self._live.update(self._render())
        elif time.perf_counter() - self._last_status >= STATUS_EVERY_S:
            self._last_status = time.perf_counter()
            self.print("arms: " + "; ".join(self.lines()))

    def close(self) -> None:
        """Stop the live block (its lines are replaced by the arms' final log lines) and drain the pipes."""
        for thread in self._threads:
            thread.join(timeout=5)
        if self._live is not None:
            self._live.stop()
            self._live = None
