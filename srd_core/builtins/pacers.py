"""Built-in pacers: Baby Step (SRD's cumulative easy→hard curriculum) and ``all`` (the baseline)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from srd_core.components import Pacer, StagePlan
from srd_core.hookspecs import hookimpl
from srd_core.limits import MAX_EPOCHS, MAX_STAGES


class BabyStepParams(BaseModel):
    """Parameters of the Baby Step curriculum."""

    model_config = ConfigDict(extra="forbid")

    num_bins: int = Field(
        3, ge=1, le=MAX_STAGES, description=f"Number of bins, and of cumulative stages (SRD: 3; ≤ {MAX_STAGES:,})."
    )
    epochs_per_stage: float = Field(
        1.0,
        gt=0.0,
        le=MAX_EPOCHS,
        description="Epochs over each stage's data (may be "
        f"fractional: the last epoch is truncated; ≤ {MAX_EPOCHS:,}).",
    )
    order: Literal["easy_to_hard", "hard_to_easy", "random"] = Field(
        "easy_to_hard",
        description="Which kept samples fill the first bins: easiest first (SRD), hardest "
        "first, or a random partition (ablations).",
    )
    remainder: Literal["drop", "last"] = Field(
        "drop",
        description="Kept samples beyond num_bins·⌊K/num_bins⌋: dropped (equal bins, as the official "
        "code) or added to the last bin.",
    )
    seed: int = Field(0, description="Seed of the random partition (order: random).")


class BabyStep(Pacer):
    """Split the kept samples into ``n`` bins; stage ``s`` trains on bins ``1..s`` (cumulative).

    With λ = 0.75 and n = 3 the stages are the official SRD "first ⌊N/4⌋·s samples" for every N.
    """

    Params = BabyStepParams
    params: BabyStepParams

    def bins(self, kept: Sequence[str]) -> list[list[str]]:
        ids = list(kept)
        if self.params.order == "hard_to_easy":
            ids.reverse()
        elif self.params.order == "random":
            random.Random(self.params.seed).shuffle(ids)
        n = self.params.num_bins
        size = len(ids) // n
        if size == 0:
            raise ValueError(f"{len(ids)} kept samples cannot fill {n} bins")
        bins = [ids[b * size : (b + 1) * size] for b in range(n)]
        if self.params.remainder == "last":
            bins[-1].extend(ids[n * size :])
        return bins

    def stages(self, bins: Sequence[Sequence[str]] | None, all_ids: Sequence[str]) -> list[StagePlan]:
        if bins is None:
            raise ValueError("baby_step needs the curation bins")
        if len(bins) != self.params.num_bins:
            raise ValueError(f"got {len(bins)} bins, baby_step is configured with num_bins={self.params.num_bins}")
        plans: list[StagePlan] = []
        seen: list[str] = []
        for bin_ids in bins:
            seen = seen + list(bin_ids)
            plans.append(StagePlan(ids=seen, epochs=self.params.epochs_per_stage))
        return plans

    def planned_stages(self) -> int:
        return self.params.num_bins


class AllParams(BaseModel):
    """Parameters of the all-data pacer."""

    model_config = ConfigDict(extra="forbid")

    epochs: float = Field(
        1.0,
        gt=0.0,
        le=MAX_EPOCHS,
        description="Epochs over all training data (may be "
        f"fractional: the last epoch is truncated; ≤ {MAX_EPOCHS:,}).",
    )


class AllData(Pacer):
    """The baseline: one stage with every training sample, no curation needed."""

    Params = AllParams
    params: AllParams
    uses_curation = False

    def bins(self, kept: Sequence[str]) -> list[list[str]]:
        return [list(kept)]

    def stages(self, bins: Sequence[Sequence[str]] | None, all_ids: Sequence[str]) -> list[StagePlan]:
        return [StagePlan(ids=list(all_ids), epochs=self.params.epochs)]

    def planned_stages(self) -> int:
        return 1


@hookimpl
def register_pacers(register):
    """Register the built-in pacers."""
    register("baby_step", BabyStep)
    register("all", AllData)
