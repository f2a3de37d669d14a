"""Curation diagnostics per group against a hand computation: kept share, bin shares, training passes."""

from __future__ import annotations

import pytest

from srd_core.config import BaselineConfig, CurriculumConfig, spec
from srd_core.curation.diagnostics import (
    diagnostics_for,
    diagnostics_from_dicts,
    format_table,
    run_diagnostics,
)
from srd_core.types import CurationRecord

# 12 samples, groups A (a0..a5) and B (b0..b5); λ keeps 9 in three bins of 3:
# bin 1 = a0 a1 a2, bin 2 = a3 a4 b0, bin 3 = b1 b2 a5; b3 b4 b5 dropped.
BINS = {"a0": 0, "a1": 0, "a2": 0, "a3": 1, "a4": 1, "b0": 1, "b1": 2, "b2": 2, "a5": 2}
ORDER = ["a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2", "a5", "b3", "b4", "b5"]


def records(grouped: bool = True) -> list[CurationRecord]:
    rank = {sid: i + 1 for i, sid in enumerate(ORDER)}
    ids = [f"a{i}" for i in range(6)] + [f"b{i}" for i in range(6)]
    return [
        CurationRecord(
            id=sid,
            values={"m": 0.0},
            ranks={"m": rank[sid]},
            fused=0.0,
            rank=rank[sid],
            kept=sid in BINS,
            bin=BINS.get(sid),
            group=sid[0].upper() if grouped else None,
        )
        for sid in ids
    ]


CURRICULUM = CurriculumConfig(
    pacer=spec("baby_step", num_bins=3, epochs_per_stage=2.4), groups=spec("field", field="family")
)
BASELINE = BaselineConfig(pacer=spec("all", epochs=6.0))


def test_diagnostics_match_a_hand_computation():
    diag = diagnostics_for(CURRICULUM, BASELINE, records())
    a, b = diag.groups  # same size: by name
    assert (a.group, a.samples, a.kept, a.kept_share) == ("A", 6, 6, 1.0)
    assert (b.group, b.samples, b.kept, b.kept_share) == ("B", 6, 3, 0.5)
    assert a.bin_counts == [3, 2, 1] and b.bin_counts == [0, 1, 2]
    assert a.bin_shares == pytest.approx([1.0, 2 / 3, 1 / 3]) and b.bin_shares == pytest.approx([0.0, 1 / 3, 2 / 3])
    # SRD: stage s trains bins 1..s for 2.4 epochs; A is in the stages 3, 5 and 6 times, B 0, 1 and 3 times
    assert a.srd_passes == pytest.approx(2.4 * (3 + 5 + 6)) and b.srd_passes == pytest.approx(2.4 * (0 + 1 + 3))
    assert a.baseline_passes == b.baseline_passes == pytest.approx(6 * 6)
    assert a.relative_passes == pytest.approx(33.6 / 36) and b.relative_passes == pytest.approx(9.6 / 36)
    total = diag.total
    assert (total.samples, total.kept, total.bin_counts) == (12, 9, [3, 3, 3])
    assert total.relative_passes == pytest.approx(43.2 / 72)


def test_a_baseline_matched_to_srds_steps_gets_srds_total_passes():
    matched = BASELINE.model_copy(update={"match_srd_steps": True})
    diag = diagnostics_for(CURRICULUM, matched, records())
    assert diag.total.relative_passes == pytest.approx(1.0)
    assert diag.groups[1].relative_passes == pytest.approx((9.6 / 36) / 0.6)


def test_no_groups_no_diagnostics_unless_given():
    assert diagnostics_for(CURRICULUM, BASELINE, records(grouped=False)) is None
    by_hand = {r.id: "all" for r in records(grouped=False)}
    assert diagnostics_for(CURRICULUM, BASELINE, records(grouped=False), by_hand).total.samples == 12


def test_from_a_runs_config_and_rows_with_the_family_fallback():
    config = {
        "curriculum": {
            "pacer": {"name": "baby_step", "num_bins": 3, "epochs_per_stage": 2.4},
            "groups": {"name": "field", "field": "family"},
        },
        "baseline": {"pacer": {"name": "all", "epochs": 6.0}},
    }
    rows = [r.to_dict() for r in records()]
    diag = diagnostics_from_dicts(config, rows)
    assert diag == diagnostics_for(CURRICULUM, BASELINE, records())
    found = run_diagnostics(config, rows)
    assert found is not None and found[1:] == ("curriculum.groups: field", True)
    plain = [r.to_dict() for r in records(grouped=False)]
    assert "group" not in plain[0]
    assert run_diagnostics(config, plain) is None
    meta = {r["id"]: {"family": r["id"][0].upper()} for r in plain}
    found = run_diagnostics(config, plain, meta)
    assert found is not None and found[1:] == ("task family, from the sample metadata", False)
    assert found[0].groups == diag.groups
    # defaults (baby_step, all) when the config does not say; a pacer that does not fit: no diagnostics
    assert run_diagnostics({}, rows) is not None
    assert run_diagnostics({"curriculum": {"pacer": {"name": "baby_step", "num_bins": 4}}}, rows) is None


def test_console_table():
    text = format_table(diagnostics_for(CURRICULUM, BASELINE, records()))
    lines = text.splitlines()
    assert lines[0].split() == ["group", "samples", "kept", "bin", "1", "bin", "2", "bin", "3", "passes"]
    assert lines[1].split() == ["A", "6", "100%", "100%", "67%", "33%", "93%"]
    assert lines[2].split() == ["B", "6", "50%", "0%", "33%", "67%", "27%"]
    assert lines[3].split() == ["all", "samples", "12", "75%", "n=3", "n=3", "n=3", "60%"]
