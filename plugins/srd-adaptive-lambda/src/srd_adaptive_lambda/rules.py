"""Rules that propose how many of the easy→hard sorted samples to keep (before the min/max bounds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAD_TO_SD = 1.4826
"""Scales the median absolute deviation to the standard deviation of a normal distribution."""


@dataclass
class Proposal:
    """A rule's proposed number of kept samples and why."""

    n_keep: int
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def knee_rule(sorted_scores: Sequence[float], curve: str, sensitivity: float) -> Proposal:
    """Keep everything before the knee (Kneedle) of the descending fused-score curve."""
    n = len(sorted_scores)
    y = np.asarray(sorted_scores, dtype=float)
    if n < 3 or np.ptp(y) == 0:
        return Proposal(n, "curve too short or flat: no knee, keep all")
    from kneed import KneeLocator  # deferred: kneed; imports scipy: only when the rule runs, not when plugins load

    locator = KneeLocator(np.arange(n), y, S=sensitivity, curve=curve, direction="decreasing", online=True)
    if locator.knee is None:
        return Proposal(n, "Kneedle found no knee: keep all")
    knee = int(locator.knee)
    return Proposal(
        knee,
        f"knee of the sorted fused scores at position {knee}/{n} "
        f"(score {float(y[knee]):.5g}, curve={curve}, S={sensitivity})",
        {"knee_index": knee, "knee_score": float(y[knee])},
    )


def mad_rule(values: Sequence[float], k: float, harder_is_higher: bool, metric: str) -> Proposal:
    """Drop as many samples as ``metric`` has outliers on its hard side: beyond median ± k·MAD."""
    v = np.asarray(values, dtype=float)
    n = len(v)
    if n == 0:
        return Proposal(0, "no samples")
    median = float(np.median(v))
    mad = float(np.median(np.abs(v - median))) * MAD_TO_SD
    if mad == 0:
        return Proposal(n, f"{metric}: MAD is 0, no outliers: keep all", {"median": median, "mad": 0.0})
    threshold = median + k * mad if harder_is_higher else median - k * mad
    outliers = int(np.sum(v > threshold) if harder_is_higher else np.sum(v < threshold))
    side = ">" if harder_is_higher else "<"
    return Proposal(
        n - outliers,
        f"{outliers}/{n} samples have {metric} {side} median {median:.4g} "
        f"{'+' if harder_is_higher else '-'} {k}·MAD {mad:.4g} = {threshold:.4g}",
        {"median": median, "mad": mad, "threshold": threshold, "outliers": outliers},
    )
