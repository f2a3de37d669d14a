"""Paired differences, t intervals and verdicts on hand-computed numbers; curve look-ups."""

from __future__ import annotations

import json

import pytest

from srd_core.evaluation.curves import curve_from_rows, score_at_step
from srd_core.experiment.collect import eval_curve, first_reaching, value_at_step
from srd_core.experiment.stats import paired_difference, spread, variant_stats
from srd_core.experiment.table import markdown_tables

T_975_DF2 = 4.302652729911275  # Student's t quantile, 2 degrees of freedom


def test_interval_containing_zero_names_no_winner():
    d = paired_difference("SRD", "plain KD", [(0, 11.0, 10.0), (1, 12.0, 10.0), (2, 13.0, 10.0)])
    half = T_975_DF2 * 1.0 / 3**0.5
    assert (d.mean, d.sd, d.n) == (2.0, 1.0, 3)
    assert (d.low, d.high) == pytest.approx((2.0 - half, 2.0 + half))
    assert d.winner is None
    assert d.verdict.startswith("No significant difference with 3 seeds: SRD − plain KD = +2.00")


@pytest.mark.parametrize(("sign", "winner"), [(1, "SRD"), (-1, "plain KD")])
def test_interval_excluding_zero_names_the_winner(sign, winner):
    d = paired_difference("SRD", "plain KD", [(s, 10 + sign * x, 10.0) for s, x in enumerate((2.0, 2.5, 3.0))])
    half = T_975_DF2 * 0.5 / 3**0.5
    assert (d.low, d.high) == pytest.approx(sorted((sign * 2.5 - half, sign * 2.5 + half)))
    assert d.winner == winner and d.verdict.startswith(f"{winner} beats")
    assert "95% t interval" in d.verdict


def test_one_seed_or_no_spread_gives_no_interval_and_no_winner():
    one = paired_difference("SRD", "plain KD", [(0, 12.0, 10.0)])
    assert one.low is None and one.winner is None and "with 1 seed:" in one.verdict
    flat = paired_difference("SRD", "plain KD", [(0, 12.0, 10.0), (1, 13.0, 11.0)])
    assert flat.low is None and flat.winner is None and "with 2 seeds" in flat.verdict
    missing = paired_difference("SRD", "plain KD", [(0, None, 10.0), (1, 12.0, 10.0)])
    assert missing.seeds == [1]


def test_spread_and_reference_comparison_pair_by_seed():
    assert spread([1.0, None, 3.0]).__dict__ == {"n": 2, "mean": 2.0, "sd": pytest.approx(2**0.5)}
    rows = [
        {"variant": v, "seed": s, "srd": base + s, "baseline": 5.0}
        for v, base in (("a", 10.0), ("b", 12.0))
        for s in (0, 1, 2)
    ]
    rows[-1]["srd"] += 0.5  # b's seed 2 differs a little more
    stats = variant_stats(rows, reference="a")
    assert stats[0].vs_reference is None
    assert stats[1].vs_reference.diffs == [2.0, 2.0, 2.5] and stats[1].vs_reference.winner == "SRD [b]"
    table = markdown_tables(rows, "a")
    assert "| b | 3 | 13.2 ± 1.3 | 5.0 ± 0.0 |" in table and "| b | +2.17 [" in table


def test_curve_lookups():
    curve = [[10.0, 1.0, 20.0], [20.0, 2.0, 30.0], [40.0, 4.0, 50.0]]
    assert value_at_step(curve, 15) == pytest.approx(25.0)
    assert value_at_step(curve, 40) == 50.0 and value_at_step(curve, 50) is None and value_at_step(curve, 5) is None
    assert first_reaching(curve, 29.0) == [20.0, 2.0, 30.0] and first_reaching(curve, 60.0) is None


def test_the_experiment_reads_an_eval_curve_as_the_report_does(tmp_path):
    """One eval.jsonl, read by the experiment's collector and the report's comparison: the same score at every
    step (both read rows and interpolate through srd_core.evaluation, not copies of their own)."""
    rows = [
        {"step": 30, "wall_time": 3.0, "rougeL": 41.0},
        {"step": 10, "wall_time": 1.0, "rouge_l": 20.0},
        {"step": 20, "wall_time": 2.0, "score": 26.5},
        {"step": 20, "wall_time": 2.1, "rouge_l": 29.0},
        {"step": 45, "wall_time": 4.5, "rouge_l": 44.0, "flops": 9.0},
    ]
    (tmp_path / "srd").mkdir()
    (tmp_path / "srd" / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    experiment, report = eval_curve(tmp_path, "srd"), curve_from_rows(rows)
    assert [p[0] for p in experiment] == [p.step for p in report] == [10, 20, 20, 30, 45]
    for step in range(0, 50):
        assert value_at_step(experiment, step) == score_at_step(report, step), step
    assert value_at_step(experiment, 25) == pytest.approx(35.0) and value_at_step(experiment, 9) is None
