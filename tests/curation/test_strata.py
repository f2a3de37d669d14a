"""Groups in curation: stratify false is today's curation byte for byte; stratify true keeps λ within each
group and gives every bin (stage) the groups' kept shares; third-party selectors and pacers work per group.

``data/groups_*.jsonl``: 97 samples of three families of different difficulty (``easy`` reflections match
their reference, ``hard`` ones do not), with ties. ``groups_today_*.jsonl`` are the curation.jsonl lines the
code of main at c486839 (before groups existed) wrote for them with the default curriculum and with
``tie_break: chained``, λ = 0.6 and four bins with the remainder in the last.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from srd_core.components import Pacer, Selection, Selector, StagePlan
from srd_core.config import CurriculumConfig, spec
from srd_core.curation.curate import curate_with_info, plan_stages
from srd_core.errors import DataError
from srd_core.hookspecs import hookimpl
from srd_core.plugins import get_component, register, unregister
from srd_core.types import ReflectionRecord, Sample

DATA = Path(__file__).parent / "data"
TODAY = {
    "default": CurriculumConfig(),
    "chained_last": CurriculumConfig(
        tie_break="chained",
        selector=spec("fixed_ratio", ratio=0.6),
        pacer=spec("baby_step", num_bins=4, remainder="last", epochs_per_stage=2.0),
    ),
}


def load_data() -> tuple[list[Sample], list[ReflectionRecord]]:
    samples = [Sample(**json.loads(line)) for line in (DATA / "groups_samples.jsonl").read_text().splitlines()]
    reflections = [
        ReflectionRecord.from_dict(json.loads(line))
        for line in (DATA / "groups_reflections.jsonl").read_text().splitlines()
    ]
    return samples, reflections


def jsonl(records) -> str:
    """curation.jsonl's text, as run_curation writes it (write_jsonl_atomic)."""
    return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records)


@pytest.mark.parametrize("variant", sorted(TODAY))
def test_stratify_false_is_byte_identical_to_todays_curation(variant):
    samples, reflections = load_data()
    curriculum = TODAY[variant].model_copy(update={"stratify": False})
    expected = (DATA / f"groups_today_{variant}.jsonl").read_text(encoding="utf-8")
    assert jsonl(curate_with_info(samples, reflections, curriculum).records) == expected
    # a grouping without stratify only adds the group to each line: ranks, kept and bins stay today's
    grouped = curriculum.model_copy(update={"groups": spec("field", field="family")})
    records = curate_with_info(samples, reflections, grouped).records
    assert [r.group for r in records] == [s.meta["family"] for s in samples]
    rows = [json.loads(line) for line in expected.splitlines()]
    assert [{k: v for k, v in r.to_dict().items() if k != "group"} for r in records] == rows


def test_stratify_with_one_group_is_the_global_curation():
    samples, reflections = load_data()
    for curriculum in TODAY.values():
        stratified = curriculum.model_copy(update={"stratify": True})
        assert jsonl(curate_with_info(samples, reflections, stratified).records) == jsonl(
            curate_with_info(samples, reflections, curriculum).records
        )


def check_strata(samples, records, ratio: float, n_bins: int) -> None:
    """λ within each group (±1), and every bin's group shares equal to the kept shares (±1 sample per bin)."""
    family = {s.id: s.meta["family"] for s in samples}
    sizes = Counter(family.values())
    kept = Counter(family[r.id] for r in records if r.kept)
    for group, n in sizes.items():
        assert abs(kept[group] - ratio * n) <= 1, (group, kept[group], n)
    total_kept = sum(kept.values())
    for b in range(n_bins):
        in_bin = Counter(family[r.id] for r in records if r.bin == b)
        bin_size = sum(in_bin.values())
        for group in sizes:
            assert abs(in_bin[group] - bin_size * kept[group] / total_kept) <= 1, (b, group, in_bin, kept)


def test_stratified_curation_keeps_lambda_within_each_group_and_every_stage_in_proportion():
    samples, reflections = load_data()
    curriculum = CurriculumConfig(groups=spec("field", field="family"), stratify=True)
    result = curate_with_info(samples, reflections, curriculum)
    check_strata(samples, result.records, 0.75, 3)
    # the global ranking drops mostly the hard family, which stratifying is for
    family = {s.id: s.meta["family"] for s in samples}
    plain = curate_with_info(samples, reflections, curriculum.model_copy(update={"stratify": False})).records
    assert sum(family[r.id] == "hard" for r in plain if r.kept) < 0.6 * sum(f == "hard" for f in family.values())
    # within a group the order is the global one: each group keeps its easiest samples by the fused rank
    for group in ("easy", "mid", "hard"):
        ranks = sorted((r.rank, r.kept) for r in result.records if family[r.id] == group)
        kept_flags = [k for _, k in ranks]
        assert kept_flags == sorted(kept_flags, reverse=True)
    # every stage of the cumulative pacer has the groups in the kept proportions
    stages = plan_stages(get_component("pacer", "baby_step"), result.records, [s.id for s in samples])
    assert len(stages) == 3
    for s, stage in enumerate(stages, start=1):
        counts = Counter(family[i] for i in stage.ids)
        assert all(abs(counts[g] - s * 8) <= s for g in ("easy", "mid", "hard")), counts
    info = result.selection_info["groups"]
    assert set(info) == {"easy", "mid", "hard"} and info["hard"]["kept"] == math.floor(0.75 * 32)


class KeepHalf(Selector):
    """A third-party λ rule: the easier half, rounded up."""

    def select(self, order, fused, values):
        return Selection(n_keep=math.ceil(len(order) / 2), info={"rule": "half"})


class TwoUnequalBins(Pacer):
    """A third-party pacer: a third of the kept samples, then the rest; stage 2 is bin 2 alone."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        epochs: float = Field(1.0, gt=0, description="Epochs per stage.")

    def bins(self, kept):
        cut = len(kept) // 3
        if cut == 0:
            raise ValueError(f"{len(kept)} kept samples cannot make two bins")
        return [list(kept[:cut]), list(kept[cut:])]

    def stages(self, bins, all_ids):
        return [StagePlan(list(b), self.params.epochs) for b in bins]


class ThirdPartyCuration:
    @hookimpl
    def register_selectors(self, register):
        register("test_keep_half", KeepHalf)

    @hookimpl
    def register_pacers(self, register):
        register("test_two_unequal", TwoUnequalBins)


@pytest.fixture
def third_party():
    register(ThirdPartyCuration(), name="third-party-curation", distribution="srd-tests")
    yield
    unregister("third-party-curation")


def test_third_party_selector_and_pacer_are_applied_per_group(third_party):
    samples, reflections = load_data()
    curriculum = CurriculumConfig(
        groups=spec("field", field="family"),
        stratify=True,
        selector=spec("test_keep_half"),
        pacer=spec("test_two_unequal"),
    )
    records = curate_with_info(samples, reflections, curriculum).records
    family = {s.id: s.meta["family"] for s in samples}
    sizes = Counter(family.values())
    kept = Counter(family[r.id] for r in records if r.kept)
    assert kept == {g: math.ceil(n / 2) for g, n in sizes.items()}
    bin0 = Counter(family[r.id] for r in records if r.bin == 0)
    assert bin0 == {g: k // 3 for g, k in kept.items()}  # the pacer's cut, within each group
    assert all(r.bin is not None for r in records if r.kept)


def test_a_group_too_small_for_the_bins_names_the_group():
    samples, reflections = load_data()
    for sample in samples[:3]:  # three samples, of which λ keeps two: too few for three bins
        sample.meta["family"] = "lonely"
    curriculum = CurriculumConfig(groups=spec("field", field="family"), stratify=True)
    with pytest.raises(DataError) as err:
        curate_with_info(samples, reflections, curriculum)
    assert str(err.value).startswith("curriculum.stratify: group 'lonely', pacer 'baby_step': ")
    assert "\n" not in str(err.value)


class BadGrouping:
    @hookimpl
    def register_groupings(self, register):
        from srd_core.components import Grouping

        class Short(Grouping):
            def assign(self, samples):
                return ["x"] * (len(samples) - 1)

        register("test_short", Short)


def test_a_grouping_that_returns_the_wrong_count_is_a_data_error():
    register(BadGrouping(), name="bad-grouping", distribution="srd-tests")
    try:
        samples, reflections = load_data()
        with pytest.raises(DataError, match="grouping 'test_short' returned 96 groups for 97 samples"):
            curate_with_info(samples, reflections, CurriculumConfig(groups=spec("test_short")))
    finally:
        unregister("bad-grouping")
