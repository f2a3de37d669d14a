"""What `srd experiment` says while it runs: runs done / running / left, an ETA from the finished runs, and
each running run's phase and training step, read from its run dir (provenance records, metrics.jsonl)."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from srd_core.config import SRDConfig
from srd_core.io import read_last_row
from srd_core.rundir import METRICS_FILE, PROVENANCE_DIR

PhaseNames = Callable[[SRDConfig], Sequence[str]]
"""The phases a run of a config runs, in order (``srd_core.pipeline.phases.phase_names``, passed in by the CLI:
the phase table is a layer above experiment/)."""


def _complete(record: Path) -> bool:
    """Whether a provenance record marks its phase finished (a phase writes ``state: started`` first)."""
    try:
        return json.loads(record.read_text(encoding="utf-8")).get("state") == "complete"
    except (OSError, ValueError, AttributeError):
        return False


def run_activity(run_dir: Path, phases: Sequence[str]) -> str:
    """``train_srd step 40 (stage 2)``: the phase a running `srd run` is in, the first of its ``phases`` (in the
    order the run runs them) it has not recorded as finished; while arms train, each arm that has logged a step and
    not finished says its last step (every arm that trains at once)."""
    run_dir = Path(run_dir)
    records = run_dir / PROVENANCE_DIR
    finished = {p.stem for p in records.glob("*.json") if _complete(p)} if records.is_dir() else set()
    todo = [p for p in phases if p not in finished]
    if not todo:
        return "finishing"
    default = [p[len("train_") :] for p in phases if p.startswith("train_")]  # the table's order of the arms
    found = [d.name for d in run_dir.iterdir() if (d / METRICS_FILE).is_file()] if run_dir.is_dir() else []
    arms = sorted(found, key=lambda a: (default.index(a) if a in default else len(default), a))
    steps = []
    for arm in arms:  # the run's arms, whatever their names (an `arms` section lists any number)
        row = read_last_row(run_dir / arm / METRICS_FILE) if f"train_{arm}" not in finished else None
        if row is not None and isinstance(row.get("step"), int):
            stage = f" (stage {row['stage'] + 1})" if isinstance(row.get("stage"), int) else ""
            steps.append(f"train_{arm} step {row['step']}{stage}")
    if steps and (todo[0].startswith(("train_", "evaluate_"))):
        return ", ".join(steps)
    if not todo[0].startswith("train_"):
        return "evaluate" if todo[0].startswith("evaluate_") else todo[0]
    return todo[0]


@dataclass
class Progress:
    """Where an experiment stands."""

    done: int
    running: dict[str, float]
    """Running run → seconds since it started."""
    left: int
    durations: list[float]
    """Seconds of the runs finished so far (this invocation and earlier ones)."""
    jobs: int

    def eta_seconds(self) -> float | None:
        """Seconds until every run is done: the mean finished run's time for each run left, less what the
        running ones have already spent, shared among the jobs that have a run; None before any run has finished."""
        if not self.durations:
            return None
        mean = statistics.fmean(self.durations)
        work = self.left * mean + sum(max(mean - spent, 0.0) for spent in self.running.values())
        return work / max(1, min(self.jobs, self.left + len(self.running)))  # fewer runs than jobs: no sharing

    def line(self, activities: dict[str, str] | None = None) -> str:
        """``2 done, 2 running, 2 left; ETA 6 min (a run takes 3.0 min); seed1: train_srd step 40 ...``."""
        eta = self.eta_seconds()
        when = (
            f"ETA {_minutes(eta)} (a run takes {_minutes(statistics.fmean(self.durations))})"
            if eta is not None
            else "ETA once the first run has finished"
        )
        text = f"{self.done} done, {len(self.running)} running, {self.left} left; {when}"
        for name, activity in (activities or {}).items():
            text += f"; {name}: {activity}"
        return text


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def finished_seconds(done_files: Sequence[Path]) -> list[float]:
    """The ``seconds`` recorded in ``done/<run>.json`` markers."""
    out = []
    for path in done_files:
        try:
            seconds = json.loads(path.read_text(encoding="utf-8")).get("seconds")
        except (OSError, ValueError):
            continue
        if isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0:
            out.append(float(seconds))
    return out
