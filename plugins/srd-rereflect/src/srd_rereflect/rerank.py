"""Re-ranking the samples later stages have not trained on yet, and rebuilding those stages."""

from __future__ import annotations

from collections.abc import Sequence

from srd_core import get_component
from srd_core.api import CurriculumConfig, build_metrics, rank_by
from srd_core.components import StagePlan
from srd_core.context import ModelAccess
from srd_core.types import ReflectionRecord, Sample


def unseen_slots(stages: Sequence[StagePlan], stage: int) -> list[str]:
    """Ids of stages ``stage..`` that no stage before ``stage`` has, in order of first appearance.

    With Baby Step (cumulative stages) that is the bins from ``stage`` on, easy→hard as first ranked.
    """
    seen = {i for plan in stages[:stage] for i in plan.ids}
    slots: list[str] = []
    placed: set[str] = set()
    for plan in stages[stage:]:
        for sample_id in plan.ids:
            if sample_id not in seen and sample_id not in placed:
                placed.add(sample_id)
                slots.append(sample_id)
    return slots


def remap_stages(
    stages: Sequence[StagePlan], stage: int, slots: Sequence[str], new_order: Sequence[str]
) -> list[StagePlan]:
    """Stages ``stage..`` with the i-th slot's sample replaced by ``new_order[i]``.

    Every stage keeps its size, epochs and structure (a cumulative curriculum stays cumulative);
    only which unseen sample sits in which slot changes. Earlier stages are returned unchanged.
    """
    if sorted(slots) != sorted(new_order):
        raise ValueError("the new order must be a permutation of the unseen samples")
    mapping = dict(zip(slots, new_order, strict=True))
    head = [StagePlan(list(p.ids), p.epochs) for p in stages[:stage]]
    tail = [StagePlan([mapping.get(i, i) for i in p.ids], p.epochs) for p in stages[stage:]]
    return head + tail


def rank_samples(
    samples: Sequence[Sample],
    reflections: Sequence[ReflectionRecord],
    curriculum: CurriculumConfig,
    access: ModelAccess | None,
) -> tuple[list[str], dict[str, list[float]]]:
    """Ids easy→hard by the run's own metrics and fusion (as curation ranks), and the metric values."""
    metrics = build_metrics(curriculum)
    fusion = get_component("fusion", curriculum.fusion.name, **curriculum.fusion.params)
    values = {
        name: [float(v) for v in metric.score(samples, reflections, access if metric.needs_model else None)]
        for name, metric in metrics.items()
    }
    ranks = {name: rank_by(values[name], metrics[name].higher_is_easier) for name in metrics}
    fused = fusion.fuse(ranks)
    order = sorted(range(len(samples)), key=lambda i: fused[i], reverse=True)
    return [samples[i].id for i in order], values
