"""Reading eval curves: the baseline's score at SRD's step count and SRD's time to quality."""

from __future__ import annotations

import json

import pytest

from srd_core.evaluation.curves import CurvePoint, curve_from_rows, first_reaching, score_at_step
from srd_core.report.comparison import compare_arms, equal_steps_sentence, time_to_quality_sentence
from srd_core.report.data import load_run

# A hand-made baseline curve: 10 evaluations, every 10 steps, 12 s apart.
BASELINE = [CurvePoint(10 * i, 12.0 * i, s) for i, s in enumerate([20, 30, 36, 40, 43, 45, 47, 48, 49, 50], 1)]
SRD = [CurvePoint(6 * i, 8.0 * i, s) for i, s in enumerate([25, 33, 40, 44, 46, 49, 50.5, 51, 52, 52.5], 1)]


def test_score_at_step_reads_and_interpolates():
    assert score_at_step(BASELINE, 60) == 45  # an evaluated step
    assert score_at_step(BASELINE, 65) == pytest.approx(46.0)  # halfway between 45 and 47
    assert score_at_step(BASELINE, 100) == 50
    assert score_at_step(BASELINE, 101) is None  # beyond the curve
    assert score_at_step(BASELINE, 5) is None  # before the first evaluation, no start score
    assert score_at_step(BASELINE, 5, start=10.0) == pytest.approx(15.0)  # from the initial student at step 0
    assert score_at_step([], 3, start=7.0) is None
    assert score_at_step([CurvePoint(4, 1.0, 9.0)], 4) == 9.0


def test_first_reaching_target_with_offset():
    reached = first_reaching(SRD, 50.0, offset_s=30.0)
    assert (reached.step, reached.wall_time, reached.score) == (42, 56.0 + 30.0, 50.5)
    assert first_reaching(SRD, 49.0).step == 36  # ≥ counts: exactly 49 at step 36
    assert first_reaching(SRD, 53.0) is None  # never reached
    shuffled = list(reversed(SRD))
    assert first_reaching(shuffled, 44.0).step == 24  # the first by step, whatever the row order


def test_curve_from_rows_skips_rows_without_score_step_or_time():
    rows = [
        {"step": 20, "wall_time": 3.0, "rouge_l": 4.0},
        {"step": 10, "wall_time": 1.5, "score": 2.0},
        {"step": 30, "rouge_l": 5.0},
        {"wall_time": 9.0, "rouge_l": 1.0},
        {"step": 40, "wall_time": 9.0},
    ]
    assert curve_from_rows(rows) == [CurvePoint(10, 1.5, 2.0), CurvePoint(20, 3.0, 4.0)]


def _write_run(run_dir, srd_curve, base_curve, srd_steps, base_steps, finals, timings):
    for arm, curve, steps in (("srd", srd_curve, srd_steps), ("baseline", base_curve, base_steps)):
        (run_dir / arm).mkdir(parents=True)
        rows = [{"step": p.step, "wall_time": p.wall_time, "rouge_l": p.score} for p in curve]
        (run_dir / arm / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        (run_dir / arm / "summary.json").write_text(json.dumps({"steps": steps}), encoding="utf-8")
    (run_dir / "eval.jsonl").write_text(
        "".join(json.dumps({"model": m, "rouge_l": v}) + "\n" for m, v in finals.items()), encoding="utf-8"
    )
    (run_dir / "timings.json").write_text(json.dumps(timings), encoding="utf-8")


def test_comparison_of_a_run(tmp_path):
    _write_run(
        tmp_path,
        SRD,
        BASELINE,
        60,
        100,
        {"student_init": 5.0, "srd": 52.5, "baseline": 50.0},
        {"reflect": 25.0, "curate": 5.0},
    )
    c = compare_arms(load_run(tmp_path))
    assert (c.srd_steps, c.baseline_steps, c.step_ratio) == (60, 100, 0.6)
    assert c.baseline_at_srd_steps == 45  # the baseline's curve at step 60
    assert c.overhead_seconds == 30.0
    assert (c.srd_reached.step, c.srd_reached.wall_time) == (42, 86.0)
    assert c.baseline_seconds == 120.0
    assert "after SRD's 60 optimizer steps (0.60× the baseline's 100) SRD scores 52.5" in equal_steps_sentence(c)
    assert "reads 45.0 ROUGE-L" in equal_steps_sentence(c)
    assert "at step 42, 86 s after the start of its reflection pass" in time_to_quality_sentence(c)


def test_comparison_says_when_srd_never_reached_the_baseline(tmp_path):
    low = [CurvePoint(p.step, p.wall_time, p.score - 10) for p in SRD]
    _write_run(tmp_path, low, BASELINE, 60, 100, {"srd": 42.5, "baseline": 50.0}, {"reflect": 25.0})
    c = compare_arms(load_run(tmp_path))
    assert c.srd_reached is None
    assert "SRD never reached the baseline's final 50.0 ROUGE-L on its 10 evaluations" in time_to_quality_sentence(c)


def test_no_comparison_without_both_curves(tmp_path):
    (tmp_path / "srd").mkdir()
    (tmp_path / "srd" / "eval.jsonl").write_text(json.dumps({"step": 1, "wall_time": 1, "rouge_l": 1}) + "\n")
    assert compare_arms(load_run(tmp_path)) is None
