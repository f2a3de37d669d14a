"""Built-in selectors: how many of the easy→hard sorted samples are kept (the λ rule)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

from pydantic import BaseModel, ConfigDict, Field

from srd_core.components import Selection, Selector
from srd_core.hookspecs import hookimpl


class FixedRatioParams(BaseModel):
    """Parameters of the fixed-ratio selector."""

    model_config = ConfigDict(extra="forbid")

    ratio: float = Field(
        0.75,
        gt=0.0,
        le=1.0,
        description="λ: the easiest share kept, in (0, 1]; SRD keeps 0.75 and drops the hardest quarter.",
    )


class FixedRatio(Selector):
    """Keep the first ``⌊λ·N⌋`` samples of the easy→hard order.

    The floor is taken on λ as written (``0.29 · 100`` keeps 29, not 28 from binary rounding).
    """

    Params = FixedRatioParams
    params: FixedRatioParams

    def select(
        self,
        order: Sequence[int],
        fused: Sequence[float],
        values: Mapping[str, Sequence[float]],
    ) -> Selection:
        return Selection(n_keep=self.planned_keep(len(order)), info={"ratio": self.params.ratio})

    def planned_keep(self, n: int) -> int:
        """``⌊λ·n⌋``: the share does not depend on the scores."""
        return math.floor(Fraction(repr(self.params.ratio)) * n)


@hookimpl
def register_selectors(register):
    """Register the built-in selectors."""
    register("fixed_ratio", FixedRatio)
