"""The report's account of where the KD responses came from (train.responses) and what generation cost."""

from __future__ import annotations

import json

from report_fixture import build_fake_run

from srd_core.report.build import build_report
from srd_core.report.data import load_run
from srd_core.report.html import render_html
from srd_core.report.summary import summarize


def test_generated_share_and_generation_cost_from_the_summaries(tmp_path):
    run_dir = build_fake_run(tmp_path / "run")
    for method, steps, seconds in (
        ("srd", {"ground_truth": 30, "generated": 20, "replay": 10}, 42.5),
        ("baseline", {"ground_truth": 60, "generated": 0, "replay": 0}, 0.0),
    ):
        path = run_dir / method / "summary.json"
        row = json.loads(path.read_text()) if path.is_file() else {"label": method, "steps": 60}
        row["responses"] = {"steps": steps, "generation_seconds": seconds, "generated_tokens": 1234}
        path.write_text(json.dumps(row))
    methods = summarize(load_run(run_dir)).methods
    assert methods["srd"].generated_share == 20 / 60 and methods["srd"].replayed_share == 10 / 60
    assert methods["srd"].generation_seconds == 42.5 and methods["baseline"].generated_share == 0.0
    html = render_html(build_report(run_dir), {})
    assert 'id="generated_share-srd">33.3%' in html and 'id="replayed_share-srd">16.7%' in html
    assert 'id="generation_seconds-srd">42.5 s' in html and 'id="generated_share-baseline">0.0%' in html


def test_ground_truth_runs_show_no_generation_rows(tmp_path):
    run_dir = build_fake_run(tmp_path / "run")
    assert summarize(load_run(run_dir)).methods["srd"].generated_share is None
    assert "generated_share" not in render_html(build_report(run_dir), {})


def test_logged_rows_give_the_share_while_training(tmp_path):
    run_dir = build_fake_run(tmp_path / "run")
    (run_dir / "srd" / "summary.json").unlink()
    path = run_dir / "srd" / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for k, row in enumerate(rows):
        row["response_source"] = ("generated", "replay", "ground_truth", "ground_truth")[k % 4]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    srd = summarize(load_run(run_dir)).methods["srd"]
    assert srd.generated_share == sum(r["response_source"] == "generated" for r in rows) / len(rows)
