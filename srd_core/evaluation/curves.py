"""Reading held-out eval curves: a score at a given step, and when a curve first reached a score.

Pure functions over ``CurvePoint`` lists (one per evaluation during training, as written to
``<arm>/eval.jsonl``), used by the report for the paper's two views of SRD vs plain KD: the
baseline's score at SRD's step count (equal steps) and SRD's time-to-quality (the first wall time
and step at which it reached the baseline's final score, its reflection pass included). The
experiment's collector reads its curves' scores at a step through ``interpolate`` too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from srd_core.evaluation.rows import score_of


@dataclass(frozen=True)
class CurvePoint:
    """One evaluation during training: optimizer step, training wall seconds, ROUGE-L ×100, cumulative FLOPs."""

    step: int
    wall_time: float
    score: float
    flops: float | None = None
    """Training compute up to this point (``None`` in rows written before srd counted it)."""


@dataclass(frozen=True)
class Reached:
    """The first evaluation at which a curve reached a target: its step, wall seconds and FLOPs (offsets
    included)."""

    step: int
    wall_time: float
    score: float
    flops: float | None = None


def curve_from_rows(rows: Iterable[dict[str, Any]] | None) -> list[CurvePoint]:
    """The points of eval.jsonl rows that have a step, a wall time and a score, sorted by step."""
    points = []
    for row in rows or []:
        score = score_of(row)
        if score is None or row.get("step") is None or row.get("wall_time") is None:
            continue
        flops = row.get("flops")
        points.append(
            CurvePoint(
                int(row["step"]),
                float(row["wall_time"]),
                float(score),
                float(flops) if isinstance(flops, (int, float)) else None,
            )
        )
    return sorted(points, key=lambda p: p.step)


def score_at_step(curve: Sequence[CurvePoint], step: int, start: float | None = None) -> float | None:
    """The curve's score at ``step``, linear between the evaluations around it.

    ``start`` is the score at step 0 (the initial student), used before the first evaluation.
    ``None`` when ``step`` lies outside what the curve (and ``start``) covers.
    """
    return interpolate([(p.step, p.score) for p in curve], step, start)


def interpolate(points: Sequence[tuple[float, float]], step: float, start: float | None = None) -> float | None:
    """The score at ``step`` of ``(step, score)`` points in step order, linear between the two around it.

    ``start`` is the score at step 0 (it replaces a point at step 0). ``None`` when ``step`` lies outside
    what the points (and ``start``) cover.
    """
    points = [(0, start), *((s, v) for s, v in points if s != 0)] if start is not None else list(points)
    if not points or step < points[0][0] or step > points[-1][0]:
        return None
    for (s0, v0), (s1, v1) in pairwise(points):
        if s0 <= step <= s1:
            return v0 if s1 == s0 else v0 + (v1 - v0) * (step - s0) / (s1 - s0)
    return points[-1][1]  # a single point, at exactly ``step``


def first_reaching(
    curve: Sequence[CurvePoint], target: float, offset_s: float = 0.0, offset_flops: float = 0.0
) -> Reached | None:
    """The first evaluation with a score ≥ ``target`` (wall time plus ``offset_s``, FLOPs plus ``offset_flops``),
    or ``None`` if none did."""
    for point in sorted(curve, key=lambda p: p.step):
        if point.score >= target:
            flops = point.flops + offset_flops if point.flops is not None else None
            return Reached(point.step, point.wall_time + offset_s, point.score, flops)
    return None
