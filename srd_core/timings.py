"""The run's wall time from ``timings.json``: phases that ran at once count once, never summed as if sequential."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PARALLEL_KEY = "parallel"
"""timings.json's record of the arms trained at once: {"phases": [train_<arm>, ...], "seconds": wall seconds}."""


def phase_seconds(timings: Mapping[str, Any]) -> dict[str, float]:
    """The per-phase seconds of a timings.json mapping (its ``parallel`` record left out)."""
    return {str(k): float(v) for k, v in timings.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def wall_total(timings: Mapping[str, Any], parallel_arms: bool = False) -> tuple[float, int]:
    """(wall seconds of the whole run, arms trained at once).

    Arms trained in parallel count for as long as their batch took (the ``parallel`` record); a run dir
    written before srd recorded it, with ``run.parallel_arms``, counts its longest train phase.
    """
    seconds = phase_seconds(timings)
    record = timings.get(PARALLEL_KEY)
    record = record if isinstance(record, Mapping) else {}
    phases = [p for p in record.get("phases") or [] if p in seconds]
    if len(phases) > 1 and isinstance(record.get("seconds"), (int, float)):
        together = float(record["seconds"])
    else:
        phases = [p for p in seconds if p.startswith("train_")] if parallel_arms else []
        together = max((seconds[p] for p in phases), default=0.0)
    if len(phases) < 2:
        return sum(seconds.values()), 1
    return sum(v for p, v in seconds.items() if p not in phases) + together, len(phases)
