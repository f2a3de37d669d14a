"""Rows from run dirs that lack artifacts (an older or unfinished run): every missing field is null."""

from __future__ import annotations

import json

from srd_core.experiment.collect import collect_row
from srd_core.experiment.page import render_page
from srd_core.experiment.table import markdown_tables


def test_an_empty_run_dir_gives_nulls(tmp_path):
    row = collect_row(tmp_path, "v", 0)
    assert row["variant"] == "v" and row["seed"] == 0
    for key in (
        "srd",
        "baseline",
        "diff",
        "baseline_at_srd_steps",
        "time_to_quality_s",
        "srd_steps",
        "srd_tokens",
        "wall_s",
        "reflection_s",
        "noise_dropped_share",
        "dropped",
    ):
        assert row[key] is None, key
    assert row["srd_curve"] == [] and row["shared"] == []


def test_an_older_run_without_summaries_or_metadata(tmp_path):
    (tmp_path / "eval.jsonl").write_text(
        json.dumps({"model": "student", "rouge_l": 10.0})
        + "\n"
        + json.dumps({"model": "srd", "score": 30.0})
        + "\n"
        + json.dumps({"model": "baseline", "rouge_l": 25.0})
        + "\n"
    )
    (tmp_path / "curation.jsonl").write_text(
        "".join(json.dumps({"id": f"s{i}", "kept": i < 3}) + "\n" for i in range(4))
    )
    (tmp_path / "srd").mkdir()
    (tmp_path / "srd" / "eval.jsonl").write_text(
        json.dumps({"step": 5, "wall_time": 2.0, "rouge_l": 20.0})
        + "\n"
        + json.dumps({"step": 10, "wall_time": 4.0, "rouge_l": 26.0})
        + "\n"
        + '{"step": 15, "wall'
    )  # torn
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


def _arm(run_dir, name: str, curated: bool, steps: int, flops: int, curve: list[tuple[int, float, float, int]]):
    (run_dir / name).mkdir()
    (run_dir / name / "summary.json").write_text(
        json.dumps(
            {"steps": steps, "tokens": steps * 10, "flops": flops, "wall_time": curve[-1][1], "curated": curated}
        )
    )
    (run_dir / name / "eval.jsonl").write_text(
        "".join(json.dumps({"step": s, "wall_time": w, "rouge_l": r, "flops": f}) + "\n" for s, w, r, f in curve)
    )


def _three_arm_run(run_dir, seed: int):
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("arms:\n  srd: {}\n  srd_half: {}\n  kd_equal: {}\n")
    (run_dir / "eval.jsonl").write_text(
        "".join(
            json.dumps({"model": m, "rouge_l": v}) + "\n"
            for m, v in (("srd", 30.0 + seed), ("srd_half", 20.0), ("kd_equal", 25.0))
        )
    )
    (run_dir / "reflection.meta.json").write_text(json.dumps({"compute": {"flops": 100}}))
    _arm(run_dir, "srd", True, 10, 1000, [(5, 2.0, 26.0, 500), (10, 4.0, 30.0 + seed, 1000)])
    _arm(run_dir, "srd_half", True, 10, 800, [(5, 2.0, 15.0, 400), (10, 4.0, 20.0, 800)])
    _arm(run_dir, "kd_equal", False, 10, 2000, [(5, 3.0, 20.0, 1000), (10, 6.0, 25.0, 2000)])
    (run_dir / "timings.json").write_text(
        json.dumps(
            {
                "reflect": 1.0,
                "train_srd": 4.0,
                "train_srd_half": 4.0,
                "train_kd_equal": 6.0,
                "parallel": {"phases": ["train_srd", "train_srd_half", "train_kd_equal"], "seconds": 6.5},
            }
        )
    )


def test_a_run_with_three_arms_gives_every_pair_in_quality_and_compute(tmp_path):
    _three_arm_run(tmp_path / "a", 0)
    row = collect_row(tmp_path / "a", "arms", 0)
    assert list(row["arms"]) == ["srd", "srd_half", "kd_equal"]
    assert row["arms"]["kd_equal"]["flops"] == 2000 and row["arms"]["srd"]["curve"][-1] == [10.0, 4.0, 30.0, 1000.0]
    pairs = {(p["arm"], p["reference"]): p for p in row["pairs"]}
    assert set(pairs) == {("srd", "kd_equal"), ("srd_half", "kd_equal")}
    srd = pairs[("srd", "kd_equal")]
    assert srd["diff"] == 5.0 and srd["reference_at_arm_steps"] == 25.0
    assert srd["time_to_quality_step"] == 5.0 and srd["time_to_quality_s"] == 3.0  # 2 s + 1 s of reflection
    assert srd["time_to_quality_flops"] == 600  # 500 trained + 100 of reflection: deterministic
    assert srd["compute_ratio"] == (1000 + 100) / 2000
    assert pairs[("srd_half", "kd_equal")]["time_to_quality_s"] is None  # never reached 25
    assert row["wall_s"] == 1.0 + 6.5  # the three arms trained at once: not 1 + 4 + 4 + 6


def test_the_page_compares_every_pair_over_seeds(tmp_path):
    rows = []
    for seed in (0, 1, 2):
        _three_arm_run(tmp_path / f"s{seed}", seed)
        rows.append(collect_row(tmp_path / f"s{seed}", "arms", seed))
    page = render_page(rows, {"name": "arms", "planned": 3})
    assert "Each curated arm against each reference arm" in page
    assert "srd − kd_equal" in page and "srd_half − kd_equal" in page and "0.55 ± 0.00×" in page


def test_the_page_plots_quality_against_compute_when_rows_carry_flops(tmp_path):
    from srd_core.experiment import plots
    from srd_core.experiment.stats import variant_stats

    rows = []
    for seed in (0, 1):
        _three_arm_run(tmp_path / f"s{seed}", seed)
        (tmp_path / f"s{seed}" / "baseline").mkdir()
        (tmp_path / f"s{seed}" / "baseline" / "eval.jsonl").write_text(
            json.dumps({"step": 5, "wall_time": 1.0, "rouge_l": 10.0, "flops": 300}) + "\n"
        )
        rows.append(collect_row(tmp_path / f"s{seed}", "arms", seed))
    assert plots.plot_curves(variant_stats(rows), rows, x="flops").startswith(b"\x89PNG")
    for r in rows:  # a row from before srd counted FLOPs: no compute panel
        r["srd_curve"] = [p[:3] for p in r["srd_curve"]]
    assert plots.plot_curves(variant_stats(rows), rows, x="flops") is None
