"""Rows from run dirs that lack artifacts (an older or unfinished run): every missing field is null."""

from __future__ import annotations

import json

from srd_core.experiment.collect import collect_row
from srd_core.experiment.page import render_page
from srd_core.experiment.table import markdown_tables


def test_an_empty_run_dir_gives_nulls(tmp_path):
    row = collect_row(tmp_path, "v", 0)
    assert row["variant"] == "v" and row["seed"] == 0
    for key in ("srd", "baseline", "diff", "baseline_at_srd_steps", "time_to_quality_s", "srd_steps", "srd_tokens",
                "wall_s", "reflection_s", "noise_dropped_share", "dropped"):
        assert row[key] is None, key
    assert row["srd_curve"] == [] and row["shared"] == []


def test_an_older_run_without_summaries_or_metadata(tmp_path):
    (tmp_path / "eval.jsonl").write_text(
        json.dumps({"model": "student", "rouge_l": 10.0}) + "\n" + json.dumps({"model": "srd", "score": 30.0}) + "\n"
        + json.dumps({"model": "baseline", "rouge_l": 25.0}) + "\n")
    (tmp_path / "curation.jsonl").write_text("".join(json.dumps({"id": f"s{i}", "kept": i < 3}) + "\n"
                                                     for i in range(4)))
    (tmp_path / "srd").mkdir()
    (tmp_path / "srd" / "eval.jsonl").write_text(
        json.dumps({"step": 5, "wall_time": 2.0, "rouge_l": 20.0}) + "\n"
        + json.dumps({"step": 10, "wall_time": 4.0, "rouge_l": 26.0}) + "\n" + '{"step": 15, "wall')  # torn
    (tmp_path / "timings.json").write_text(json.dumps({"reflect": 1.5, "train_srd": 4.0}))
    row = collect_row(tmp_path, "old", 3)
    assert (row["student_init"], row["srd"], row["baseline"], row["diff"]) == (10.0, 30.0, 25.0, 5.0)
    assert row["time_to_quality_s"] == 5.5 and row["time_to_quality_step"] == 10.0  # 4.0 s + 1.5 s reflection
    assert row["srd_steps"] is None and row["baseline_at_srd_steps"] is None
    assert (row["dropped"], row["noisy"], row["noise_dropped_share"]) == (1, None, None)
    assert row["wall_s"] == 5.5 and row["reflection_s"] == 1.5
    text = markdown_tables([row])
    assert "| old | 1 | 30.0 | 25.0 | +5.00 (n = 1, no interval) |" in text and "with 1 seed" in text


def test_the_page_renders_without_any_finished_run():
    page = render_page([], {"name": "empty", "planned": 4})
    assert "0 of 4 runs finished" in page and "No finished run yet." in page and "data:image/png" not in page
