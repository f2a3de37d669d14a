"""The experiment's headline and tables with arms: every curated arm against every reference arm, who won, by
how much, how sure, at what compute."""

from __future__ import annotations

import pytest

from srd_core.experiment.page import render_page
from srd_core.experiment.stats import paired_difference
from srd_core.experiment.table import markdown_tables
from srd_core.experiment.verdict import stats_with_headlines as variant_stats

# Four arms as examples/demo.yaml trains them; per seed: final score, FLOPs. Reflection: 10 FLOPs per run.
SCORES = {
    "srd": [64.0, 65.0, 64.5],
    "srd_stratified": [71.0, 73.0, 70.5],
    "baseline": [81.0, 81.5, 81.2],
    "kd_equal": [72.0, 74.5, 71.0],
}
FLOPS = {"srd": 630.0, "srd_stratified": 600.0, "baseline": 1000.0, "kd_equal": 620.0}
CURATED = ("srd", "srd_stratified")


def _rows(scores=SCORES, variant="default"):
    rows = []
    for i, seed in enumerate((0, 1, 2)):
        arms = {
            name: {
                "final": values[i],
                "steps": 380 if name != "baseline" else 630,
                "flops": FLOPS[name],
                "curated": name in CURATED,
                "curve": [],
            }
            for name, values in scores.items()
        }
        pairs = [
            {
                "arm": a,
                "reference": b,
                "diff": arms[a]["final"] - arms[b]["final"],
                "reference_at_arm_steps": 79.0 if b == "baseline" else arms[b]["final"],
                "time_to_quality_flops": None,
                "compute_ratio": (FLOPS[a] + 10) / FLOPS[b],
            }
            for a in scores
            if a in CURATED
            for b in scores
            if b not in CURATED
        ]
        rows.append(
            {
                "variant": variant,
                "seed": seed,
                "srd": (arms.get("srd") or {}).get("final"),
                "baseline": (arms.get("baseline") or {}).get("final"),
                "reflection_flops": 10.0,
                "arms": arms,
                "pairs": pairs,
            }
        )
    return rows


def _diff(a, b, scores=SCORES):
    return paired_difference(a, b, [(s, scores[a][s], scores[b][s]) for s in range(3)])


def test_the_headline_names_the_winner_and_the_best_curated_arm_against_every_reference():
    [v] = variant_stats(_rows())
    assert v.leader == "baseline"
    lead = _diff("baseline", "kd_equal")
    assert v.headline.startswith(
        f"baseline wins: 81.2 ± 0.3 ROUGE-L over 3 seeds, {abs(lead.mean):.2f} points "
        f"(95% CI {lead.low:.2f} to {lead.high:.2f}) above the next best, kd_equal"
    )
    assert f"baseline at {1000 / 620:.2f}× kd_equal's compute" in v.headline  # reference arms: FLOPs
    trail = _diff("srd_stratified", "baseline")
    assert (
        f"The best curated arm, srd_stratified (71.5 ± 1.3), trails baseline by {abs(trail.mean):.2f} points "
        f"(95% CI {-trail.high:.2f} to {-trail.low:.2f}) at {610 / 1000:.2f}× its compute"
    ) in v.headline
    level = _diff("srd_stratified", "kd_equal")
    assert level.winner is None
    assert (
        f"is not distinguishable from kd_equal ({level.mean:+.2f}, 95% CI {level.low:+.2f} to "
        f"{level.high:+.2f}) at {610 / 620:.2f}× its compute."
    ) in v.headline
    assert [(d.a, d.b) for d in v.curated_pairs] == [("srd_stratified", "srd")]


def test_no_clear_winner_and_a_curated_winner():
    close = {**SCORES, "baseline": [72.5, 73.0, 71.5]}  # kd_equal and baseline: not distinguishable
    [v] = variant_stats(_rows(close))
    assert v.leader is None and v.headline.startswith(
        "No clear winner with 3 seeds: kd_equal (72.5 ± 1.8) and baseline (72.3 ± 0.8) are not distinguishable ("
    )
    strong = {**SCORES, "srd_stratified": [90.0, 92.0, 91.0]}
    [v] = variant_stats(_rows(strong))
    assert v.leader == "srd_stratified" and v.headline.startswith("srd_stratified wins: 91.0 ± 1.0 ROUGE-L")
    assert "above the next best, baseline (81.2 ± 0.3), srd_stratified at 0.61× baseline's compute." in v.headline
    assert "Against the other reference arms, srd_stratified beats kd_equal by" in v.headline
    one = {"srd": SCORES["srd"]}
    rows = _rows(one, "a") + _rows({"srd": [66.0, 67.5, 67.0]}, "b")
    a, b = variant_stats(rows, reference="a")
    assert a.headline == "Only srd trains in these runs: 64.5 ± 0.5 ROUGE-L over 3 seeds."
    assert b.headline.startswith(
        "Only srd trains in these runs: 66.8 ± 0.8 ROUGE-L over 3 seeds. SRD [b] beats SRD [a]"
    )


def test_rows_without_arms_keep_the_srd_vs_plain_kd_verdict():
    rows = [{"variant": "v", "seed": s, "srd": 10.0 + s, "baseline": 5.0 + 2 * s} for s in range(3)]
    [v] = variant_stats(rows)
    assert v.headline == v.srd_vs_baseline.verdict and v.arms == [] and v.leader == v.srd_vs_baseline.winner
    assert markdown_tables(rows).startswith(f"- **v**: {v.srd_vs_baseline.verdict}\n")


def test_the_table_starts_with_the_headline_and_lists_every_arm_and_every_pair():
    rows = _rows()
    [v] = variant_stats(rows)
    text = markdown_tables(rows)
    assert text.startswith(f"- **default**: {v.headline}\n")
    assert "| default | srd_stratified | curated | 3 | 71.5 ± 1.3 | 380 ± 0 |" in text
    assert "| default | baseline | reference | 3 | 81.2 ± 0.3 | 630 ± 0 |" in text
    for a in CURATED:
        for b in ("baseline", "kd_equal"):
            d = _diff(a, b)
            ratio = (FLOPS[a] + 10) / FLOPS[b]
            assert f"| default | {a} − {b} | {d.mean:+.2f} [{d.low:+.2f}, {d.high:+.2f}] |" in text
            assert f"| {ratio:.2f} ± 0.00× | — (0/3 reached) | {d.verdict} |" in text
    d = _diff("srd_stratified", "srd")
    assert f"| default | srd_stratified − srd | {d.mean:+.2f} [{d.low:+.2f}, {d.high:+.2f}] | — | 0.95× | — |" in text
    assert "- **default**, srd − baseline: " in text  # the legacy pair's verdict, named as such


def test_the_page_leads_with_the_headline_and_shows_every_arm(tmp_path):
    rows = _rows()
    page = render_page(rows, {"name": "srd-vs-kd", "planned": 3})
    verdict = page.index("<h2>Verdict</h2>")
    assert page.index('<div class="verdict win"><b>default</b> baseline wins:') == verdict + len("<h2>Verdict</h2>")
    assert "Arms (mean ± sd over seeds)" in page and "<td>srd_stratified</td><td>curated</td>" in page
    assert "srd_stratified − srd" in page and "Paired differences of the arms" in page


@pytest.mark.parametrize("missing", ["kd_equal", "srd_stratified"])
def test_an_arm_missing_from_a_seed_leaves_that_seed_out_of_its_pairs(missing):
    rows = _rows()
    rows[2]["arms"][missing]["final"] = None
    [v] = variant_stats(rows)
    pair = next(d for d in v.arm_pairs if missing in (d.a, d.b))
    assert pair.n == 2 and v.headline


def test_the_score_figure_draws_every_arm_whatever_its_name():
    from srd_core.experiment import plots

    scores = {"srd_stratified": SCORES["srd_stratified"], "kd_equal": SCORES["kd_equal"]}
    rows = _rows(scores)  # no arm named srd or baseline: the SRD / plain KD columns are empty
    stats = variant_stats(rows)
    assert stats[0].columns["srd"].n == 0 and stats[0].columns["baseline"].n == 0
    assert plots.plot_scores(stats, rows).startswith(b"\x89PNG")
