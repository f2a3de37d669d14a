"""`srd run` end to end on a tiny version of the embedded default, checking what the artifacts say."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from paths import EXAMPLES

SRD = str(Path(sys.executable).parent / "srd")
N_TRAIN, N_EVAL = 48, 12


def tiny_demo(root: Path) -> Path:
    """examples/demo.yaml shrunk: micro models, few samples, few steps."""
    config = yaml.safe_load((EXAMPLES / "demo.yaml").read_text())
    config.pop("arms", None)  # the two default arms; four arms end to end: tests/pipeline/test_arms_config.py
    config["run"] = {"name": "tiny", "output_dir": str(root), "seed": 0, "parallel_arms": True}
    config["teacher"] = {"preset": "micro-teacher"}
    config["student"] = {"preset": "micro-student"}
    config["data"]["train"].update(n_train=N_TRAIN, n_eval=N_EVAL, noise=0.25)
    config["data"].update(max_prompt_tokens=96, max_length=128)
    config["prepare"] = {
        "vocab_size": 300,
        "teacher_sft": {"steps": 30, "batch_size": 16, "lr": 3e-3},
        "student_sft": {"steps": 3, "batch_size": 16, "lr": 3e-3},
    }
    config["reflection"] = {"batch_size": 16, "max_new_tokens": 8}
    config["train"].update(batch_size=4, eval_every=3, log_every=1, checkpoint_every=0)
    config["curriculum"]["pacer"]["epochs_per_stage"] = 2  # the paper's ratio: 8/20 of the baseline's epochs
    config["baseline"]["pacer"]["epochs"] = 5
    config["eval"] = {"protocol": "greedy", "max_new_tokens": 8, "batch_size": 16}
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    config = tiny_demo(root)
    env = {**os.environ, "TQDM_DISABLE": "1"}
    first = subprocess.run([SRD, "run", str(config)], capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    second = subprocess.run([SRD, "run", str(config)], capture_output=True, text=True, env=env, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    return root / "tiny", first, second


def test_reflection_covers_every_training_sample(run):
    run_dir, _, _ = run
    meta = rows(run_dir / "samples_meta.jsonl")
    reflection = rows(run_dir / "reflection.jsonl")
    assert [r["id"] for r in reflection] == [m["id"] for m in meta] and len(meta) == N_TRAIN
    assert all(math.isfinite(r["ce"]) and r["ce"] > 0 and r["response_tokens"] > 0 for r in reflection)
    assert sum(m["noisy"] for m in meta) == round(0.25 * N_TRAIN)  # the noise share of the task
    assert len({m["family"] for m in meta}) > 1


def test_curation_keeps_three_quarters_in_three_equal_bins(run):
    run_dir, _, _ = run
    curation = rows(run_dir / "curation.jsonl")
    assert sorted(r["rank"] for r in curation) == list(range(1, N_TRAIN + 1))
    kept = [r for r in curation if r["kept"]]
    assert len(kept) == N_TRAIN * 3 // 4
    assert Counter(r["bin"] for r in kept) == {0: 12, 1: 12, 2: 12}
    # bins follow the fused order: every sample of bin b is easier than every sample of bin b+1
    by_bin = {b: [r["rank"] for r in kept if r["bin"] == b] for b in range(3)}
    assert max(by_bin[0]) < min(by_bin[1]) and max(by_bin[1]) < min(by_bin[2])
    dropped = [r for r in curation if not r["kept"]]
    assert min(r["rank"] for r in dropped) > max(r["rank"] for r in kept)
    for r in curation:  # the fused score is RRF over the two metric ranks
        assert r["fused"] == pytest.approx(sum(1 / (60 + rank) for rank in r["ranks"].values()))


def test_srd_trains_three_stages_with_rising_temperature(run):
    run_dir, _, _ = run
    metrics = rows(run_dir / "srd" / "metrics.jsonl")
    stages = sorted({m["stage"] for m in metrics})
    assert stages == [0, 1, 2]
    t_by_stage = {s: {m["T"] for m in metrics if m["stage"] == s} for s in stages}
    w_by_stage = {s: {round(m["w_sft"], 6) for m in metrics if m["stage"] == s} for s in stages}
    assert t_by_stage == {0: {1.0}, 1: {1.5}, 2: {2.0}}
    assert w_by_stage == {0: {0.3}, 1: {0.2}, 2: {0.1}}
    # cumulative bins: 12, 24, 36 samples at batch 4, 2 epochs each (8/20 of the baseline's 5) → 6, 12, 18 steps
    steps_per_stage = Counter(m["stage"] for m in metrics)
    assert [steps_per_stage[s] for s in stages] == [6, 12, 18]
    assert all(math.isfinite(m["loss"]) for m in metrics)


def test_baseline_trains_its_full_budget_and_srd_six_tenths_of_it(run):
    run_dir, _, _ = run
    srd = rows(run_dir / "srd" / "metrics.jsonl")
    baseline = rows(run_dir / "baseline" / "metrics.jsonl")
    assert len(baseline) == 5 * N_TRAIN // 4 == 60  # all 48 samples, 5 epochs, batch 4
    assert len(srd) == 36 and len(srd) / len(baseline) == pytest.approx(0.6)
    assert {m["T"] for m in baseline} == {1.0} and {m["stage"] for m in baseline} == {0}
    summaries = {arm: json.loads((run_dir / arm / "summary.json").read_text()) for arm in ("srd", "baseline")}
    assert (summaries["srd"]["steps"], summaries["baseline"]["steps"]) == (36, 60)


def test_both_curves_and_the_comparison_in_the_report(run):
    from srd_core.evaluation.curves import curve_from_rows, score_at_step
    from srd_core.report.comparison import compare_arms
    from srd_core.report.data import load_run

    run_dir, _, _ = run
    curves = {arm: rows(run_dir / arm / "eval.jsonl") for arm in ("srd", "baseline")}
    assert [r["step"] for r in curves["srd"]] == list(range(3, 37, 3))  # 12 points
    assert [r["step"] for r in curves["baseline"]] == list(range(3, 61, 3))  # 20 points
    assert all(r["wall_time"] > 0 for arm in curves.values() for r in arm)
    comparison = compare_arms(load_run(run_dir))
    baseline_curve = curve_from_rows(curves["baseline"])
    assert comparison.baseline_at_srd_steps == next(p.score for p in baseline_curve if p.step == 36)
    assert comparison.baseline_at_srd_steps == score_at_step(baseline_curve, 36)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "At equal steps: after SRD&#x27;s 36 optimizer steps (0.60× the baseline&#x27;s 60)" in html
    assert "Time to quality: SRD " in html and 'id="cmp-equal-steps"' in html


def test_final_evaluation_of_all_four_models(run):
    run_dir, _, _ = run
    evals = {r["model"]: r for r in rows(run_dir / "eval.jsonl")}
    assert set(evals) == {"teacher", "student_init", "srd", "baseline"}
    for row in evals.values():
        score = row.get("rouge_l", row.get("score"))
        assert 0.0 <= score <= 100.0 and row["n"] == N_EVAL
    during = rows(run_dir / "srd" / "eval.jsonl")
    assert [e["step"] for e in during][:3] == [3, 6, 9] and all("wall_time" in e for e in during)


def test_report_is_written_and_self_contained(run):
    run_dir, _, _ = run
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "http://" not in html and "https://" not in html
    assert {p.name for p in (run_dir / "plots").glob("*.png")} >= {"eval_curves.png", "rouge_vs_ce.png"}
    timings = json.loads((run_dir / "timings.json").read_text())
    assert {"prepare", "reflect", "curate", "train_srd", "train_baseline", "evaluate"} <= set(timings)


def test_rerun_skips_every_finished_phase(run):
    _, first, second = run
    assert "skipped" not in first.stdout.split("teacher")[0]
    for phase in ("prepare", "reflect", "curate", "train_srd", "train_baseline", "evaluate"):
        line = next(line for line in second.stdout.splitlines() if line.strip().startswith(f"{phase}:"))
        assert "skipped" in line, second.stdout


def test_bad_data_beyond_validations_probe_stops_the_run_before_prepare(tmp_path):
    """Validation loads the first 1,000 samples; a bad record after them stops `srd run` when it reads the
    data, which it does before prepare trains anything: one line naming the line, exit 2, no run dir."""
    rows = [{"id": f"r{i}", "instruction": f"say {i}", "output": f"ok {i}"} for i in range(1100)]
    rows[1050].pop("output")
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "run": {"name": "late", "output_dir": str(tmp_path / "runs")},
        "teacher": {"preset": "micro-teacher"},
        "student": {"preset": "micro-student"},
        "data": {
            "train": {
                "name": "jsonl",
                "train": str(data),
                "dev_size": 20,
                "id_field": "id",
                "template": "{instruction}",
            },
            "max_prompt_tokens": 32,
            "max_length": 48,
        },
    }
    path = tmp_path / "late.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    valid = subprocess.run([SRD, "config", "validate", str(path)], capture_output=True, text=True, env=env)
    assert valid.returncode == 0, valid.stderr
    proc = subprocess.run([SRD, "run", str(path)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == f"srd: error: {data}, line 1051: field 'output': missing field"
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()
