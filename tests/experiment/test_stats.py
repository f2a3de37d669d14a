"""Paired differences, t intervals and verdicts on hand-computed numbers; curve look-ups."""

from __future__ import annotations

import pytest

from srd_core.experiment.collect import first_reaching, value_at_step
from srd_core.experiment.stats import paired_difference, spread, variant_stats
from srd_core.experiment.table import markdown_tables

T_975_DF2 = 4.302652729911275  # Student's t quantile, 2 degrees of freedom


def test_interval_containing_zero_names_no_winner():
    d = paired_difference("SRD", "plain KD", [(0, 11.0, 10.0), (1, 12.0, 10.0), (2, 13.0, 10.0)])
    half = T_975_DF2 * 1.0 / 3 ** 0.5
    assert (d.mean, d.sd, d.n) == (2.0, 1.0, 3)
    assert (d.low, d.high) == pytest.approx((2.0 - half, 2.0 + half))
    assert d.winner is None
    assert d.verdict.startswith("No significant difference with 3 seeds: SRD − plain KD = +2.00")


@pytest.mark.parametrize(("sign", "winner"), [(1, "SRD"), (-1, "plain KD")])
def test_interval_excluding_zero_names_the_winner(sign, winner):
    d = paired_difference("SRD", "plain KD", [(s, 10 + sign * x, 10.0) for s, x in enumerate((2.0, 2.5, 3.0))])
    half = T_975_DF2 * 0.5 / 3 ** 0.5
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
    assert spread([1.0, None, 3.0]).__dict__ == {"n": 2, "mean": 2.0, "sd": pytest.approx(2 ** 0.5)}
    rows = [{"variant": v, "seed": s, "srd": base + s, "baseline": 5.0}
            for v, base in (("a", 10.0), ("b", 12.0)) for s in (0, 1, 2)]
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
