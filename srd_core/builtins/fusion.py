"""Built-in rank fusions: per-metric ranks (1 = easiest) → one score per sample, higher = easier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from srd_core.components import Fusion
from srd_core.hookspecs import hookimpl


def _sample_count(ranks: Mapping[str, Sequence[int]]) -> int:
    """The common length of every metric's rank list (0 when there are no metrics)."""
    lengths = {len(r) for r in ranks.values()}
    if len(lengths) > 1:
        raise ValueError(f"rank lists of different lengths: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


class RRFParams(BaseModel):
    """Parameters of reciprocal rank fusion."""

    model_config = ConfigDict(extra="forbid")

    k: float = Field(
        60.0, ge=0.0, le=1e6, description="Smoothing constant k in 1/(k + rank); SRD and Cormack et al. use 60."
    )


class ReciprocalRankFusion(Fusion):
    """Reciprocal rank fusion (Cormack et al. 2009), as SRD: ``score = Σ_m 1/(k + rank_m)``."""

    Params = RRFParams
    params: RRFParams

    def fuse(self, ranks: Mapping[str, Sequence[int]]) -> list[float]:
        n = _sample_count(ranks)
        k = self.params.k
        scores = [0.0] * n
        for metric_ranks in ranks.values():
            for i, rank in enumerate(metric_ranks):
                scores[i] += 1.0 / (k + rank)
        return scores


class RankMean(Fusion):
    """Mean of normalized ranks: each rank maps to ``(rank − 1)/(N − 1)`` in [0, 1] (0 = easiest).

    The score is ``1 − mean``, so the easiest sample on every metric scores 1 and higher is easier.
    """

    def fuse(self, ranks: Mapping[str, Sequence[int]]) -> list[float]:
        n = _sample_count(ranks)
        if not ranks or n == 0:
            return [0.0] * n
        scale = max(n - 1, 1)
        totals = [0.0] * n
        for metric_ranks in ranks.values():
            for i, rank in enumerate(metric_ranks):
                totals[i] += (rank - 1) / scale
        return [1.0 - total / len(ranks) for total in totals]


@hookimpl
def register_fusions(register):
    """Register the built-in fusions."""
    register("rrf", ReciprocalRankFusion)
    register("rank_mean", RankMean)
