"""The ``adaptive`` selector: λ from the data (a knee or an outlier rule), bounded by min/max ratios."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from srd_adaptive_lambda.rules import Proposal, knee_rule, mad_rule
from srd_core.components import Selection, Selector
from srd_core.errors import PluginError

log = logging.getLogger("srd.adaptive_lambda")


class AdaptiveParams(BaseModel):
    """Parameters of the adaptive selector."""

    model_config = ConfigDict(extra="forbid")

    rule: Literal["knee", "mad"] = Field(
        "knee",
        description="knee: Kneedle on the sorted fused scores; mad: drop as many as a metric's outliers.",
    )
    min_ratio: float = Field(0.5, gt=0, le=1, description="Smallest λ (share kept) the rule may choose.")
    max_ratio: float = Field(0.95, gt=0, le=1, description="Largest λ (share kept) the rule may choose.")
    curve: Literal["convex", "concave"] = Field(
        "convex",
        description="knee: shape of the descending fused-score curve the knee is sought on.",
    )
    sensitivity: float = Field(1.0, gt=0, description="knee: Kneedle's S (larger = more conservative knee).")
    metric: str = Field("cross_entropy", description="mad: the metric whose outliers are counted.")
    k: float = Field(3.0, gt=0, description="mad: outlier when beyond median ± k·MAD (MAD scaled to an SD).")
    harder_is_higher: bool = Field(True, description="mad: high values of `metric` are hard (true for CE).")

    @model_validator(mode="after")
    def _bounds(self) -> AdaptiveParams:
        if self.min_ratio > self.max_ratio:
            raise ValueError(f"min_ratio {self.min_ratio} is above max_ratio {self.max_ratio}")
        return self


class AdaptiveRatio(Selector):
    """Choose λ from the data: the knee of the fused-score curve, or a metric's outlier count."""

    Params = AdaptiveParams
    params: AdaptiveParams

    def select(self, order: Sequence[int], fused: Sequence[float], values: Mapping[str, Sequence[float]]) -> Selection:
        """Keep the proposal of the rule, clipped to [min_ratio, max_ratio] of the samples."""
        p = self.params
        n = len(order)
        if n == 0:
            return Selection(0, {"lambda": 0.0, "rule": p.rule, "reason": "no samples"})
        proposal = self._propose(order, fused, values)
        low, high = max(1, math.ceil(p.min_ratio * n)), max(1, math.floor(p.max_ratio * n))
        n_keep = min(max(proposal.n_keep, low), high)
        reason = proposal.reason
        if n_keep != proposal.n_keep:
            bound = "min_ratio" if n_keep == low else "max_ratio"
            reason += f"; proposed λ={proposal.n_keep / n:.3f} clipped to {bound} ({n_keep}/{n})"
        info = {
            "lambda": n_keep / n,
            "rule": p.rule,
            "reason": reason,
            "proposed_lambda": proposal.n_keep / n,
            **proposal.details,
        }
        log.info("adaptive selector: λ = %.3f (%d of %d kept) — %s", n_keep / n, n_keep, n, reason)
        return Selection(n_keep, info)

    def _propose(self, order: Sequence[int], fused: Sequence[float], values: Mapping[str, Sequence[float]]) -> Proposal:
        p = self.params
        if p.rule == "knee":
            return knee_rule([fused[i] for i in order], p.curve, p.sensitivity)
        if p.metric not in values:
            raise PluginError(
                f"selector 'adaptive': metric {p.metric!r} is not among the curriculum metrics "
                f"({', '.join(values) or 'none'})"
            )
        column = values[p.metric]
        return mad_rule([column[i] for i in order], p.k, p.harder_is_higher, p.metric)
