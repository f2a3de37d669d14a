"""Tie-breaking of the ranking: ``chained`` equals the official rank.py's chain of stable sorts."""

from __future__ import annotations

import random

import pytest
from rouge_score import rouge_scorer

from srd_core.config import CurriculumConfig
from srd_core.curation import curate as curation
from srd_core.curation.ranking import fused_order, metric_ranks, ranks_of
from srd_core.plugins import get_component
from srd_core.types import ReflectionRecord, Sample

WORDS = ["red", "green", "blue", "cyan", "black", "white"]


def tie_heavy(n: int, seed: int) -> tuple[list[Sample], list[ReflectionRecord]]:
    """ROUGE-L from five output shapes and CE from six values: almost every value is tied."""
    rng = random.Random(seed)
    samples, reflections = [], []
    for i in range(n):
        reference = " ".join(rng.sample(WORDS, 4))
        words = reference.split()
        output = rng.choice(["", reference, " ".join(words[:2]), " ".join(words[1:]), "no overlap"])
        samples.append(Sample(id=f"s{i:04d}", prompt=f"p{i}", references=[reference]))
        reflections.append(
            ReflectionRecord(
                id=f"s{i:04d}",
                prompt_hash=f"h{i}",
                output=output,
                ce=rng.choice([0.5, 0.75, 1.0, 1.25, 1.5, 2.0]),
                prompt_tokens=2,
                response_tokens=5,
                output_tokens=len(output.split()),
            )
        )
    return samples, reflections


def official_rank_py(rouge: list[float], ce: list[float]) -> tuple[list[int], dict[int, tuple[int, int]]]:
    """tools/rank.py re-written on its own: the list is re-sorted in place of the previous sort's result.

    Returns the final order (data indices, easiest first) and each index's (ROUGE-L rank, CE rank).
    """
    data = [{"i": i, "Rouge_L": rouge[i], "lm_loss": ce[i]} for i in range(len(rouge))]
    data = sorted(data, key=lambda x: x["Rouge_L"], reverse=True)
    for position in range(len(data)):
        data[position]["RoughL_rank"] = position + 1
    data = sorted(data, key=lambda x: x["lm_loss"], reverse=False)
    for position in range(len(data)):
        data[position]["lmloss_rank"] = position + 1
    for row in data:
        row["hybrid_rank_score"] = 1 / (int(row["RoughL_rank"]) + 60) + 1 / (int(row["lmloss_rank"]) + 60)
    data = sorted(data, key=lambda x: x["hybrid_rank_score"], reverse=True)
    return [row["i"] for row in data], {row["i"]: (row["RoughL_rank"], row["lmloss_rank"]) for row in data}


def _rouge(samples, reflections) -> list[float]:
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return [
        scorer.score(s.references[0], r.output)["rougeL"].fmeasure for s, r in zip(samples, reflections, strict=True)
    ]


@pytest.mark.parametrize("n", [8, 13, 40, 101, 400])
def test_chained_tie_break_equals_the_official_chain(n):
    samples, reflections = tie_heavy(n, seed=n)
    rouge, ce = _rouge(samples, reflections), [r.ce for r in reflections]
    assert len(set(rouge)) <= 6 and len(set(ce)) <= 6  # tie-heavy
    order, official_ranks = official_rank_py(rouge, ce)

    records = curation.curate(samples, reflections, CurriculumConfig(tie_break="chained"))
    ids = [s.id for s in samples]
    by_id = {r.id: r for r in records}
    for i, sample_id in enumerate(ids):
        assert (by_id[sample_id].ranks["rouge_l"], by_id[sample_id].ranks["cross_entropy"]) == official_ranks[i]
    assert [r.id for r in sorted(records, key=lambda r: r.rank)] == [ids[i] for i in order]
    quarter = n // 4
    plans = curation.plan_stages(get_component("pacer", "baby_step"), records, ids)
    assert [p.ids for p in plans] == [[ids[i] for i in order[: quarter * s]] for s in (1, 2, 3)]


def test_the_two_tie_breaks_differ_on_tied_data():
    """Guard for the test above: on this data data-order tie-breaking gives another ranking."""
    samples, reflections = tie_heavy(101, seed=101)
    chained = curation.curate(samples, reflections, CurriculumConfig(tie_break="chained"))
    data_order = curation.curate(samples, reflections, CurriculumConfig())
    assert [r.ranks["cross_entropy"] for r in chained] != [r.ranks["cross_entropy"] for r in data_order]
    assert [r.rank for r in chained] != [r.rank for r in data_order]
    assert [r.ranks["rouge_l"] for r in chained] == [r.ranks["rouge_l"] for r in data_order]  # first sort: same


def test_chain_by_hand():
    # ROUGE-L (higher easier) ties 0/1 and 2/3; CE (lower easier) ties everyone.
    values = {"rouge_l": [0.5, 0.5, 0.9, 0.9], "cross_entropy": [1.0, 1.0, 1.0, 1.0]}
    directions = {"rouge_l": True, "cross_entropy": False}
    ranks, last = metric_ranks(values, directions, "chained")
    assert ranks["rouge_l"] == [3, 4, 1, 2]
    assert ranks["cross_entropy"] == [3, 4, 1, 2]  # CE ties follow the ROUGE-L order
    assert metric_ranks(values, directions, "data_order")[0]["cross_entropy"] == [1, 2, 3, 4]
    assert fused_order([0.1, 0.1, 0.1, 0.1], last, "chained") == [2, 3, 0, 1]  # fused ties follow CE's order
    assert fused_order([0.1, 0.1, 0.1, 0.1], last, "data_order") == [0, 1, 2, 3]
    assert ranks_of([2, 0, 1]) == [2, 3, 1]
    with pytest.raises(ValueError, match="tie_break"):
        metric_ranks(values, directions, "random")
