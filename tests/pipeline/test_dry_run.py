"""The dry-run planner: phases, stages, steps per stage and token estimates without loading a model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from shared_data import DATA
from tiny_run import make_config, make_workspace

from srd_core.components import StagePlan
from srd_core.config import config_from_dict
from srd_core.errors import SRDError
from srd_core.pipeline.dry_run import ASSUMED_TOKENS_PER_SAMPLE, DOLLY_TRAIN_SAMPLES, plan_run, sample_passes
from srd_core.training.batches import stage_steps

DOLLY_DEV = DATA / "dolly" / "dev.jsonl"


def dolly_config(tmp_path: Path, student: str, **train) -> dict:
    return {
        "run": {"name": "plan", "output_dir": str(tmp_path)},
        "teacher": {"path": "nonexistent-org/teacher"},
        "student": {"path": student},
        "data": {"train": {"name": "minillm", "train": str(DOLLY_DEV), "dev_size": 100}},
        "curriculum": {"pacer": {"name": "baby_step", "num_bins": 3, "epochs_per_stage": 2}},
        "train": {"batch_size": 8, "grad_accum": 2, **train},
        "baseline": {"pacer": {"name": "all", "epochs": 3}, "match_srd_steps": False},
    }


def test_counts_the_data_and_uses_the_engine_step_math(tmp_path):
    plan = plan_run(config_from_dict(dolly_config(tmp_path, "nonexistent-org/student")), num_processes=1)
    assert plan.samples.value == 900 and plan.samples.measured  # 1,000 dev lines minus the 100 carved off
    assert plan.global_batch == 16
    assert [s.samples for s in plan.srd.stages] == [225, 450, 675]  # λ = 0.75 of 900 in 3 cumulative bins
    expected = [stage_steps(StagePlan([""] * n, 2.0), 16) for n in (225, 450, 675)]
    assert [s.steps for s in plan.srd.stages] == expected == [30, 58, 86]
    assert [s.temperature for s in plan.srd.stages] == ["1.00", "1.50", "2.00"]
    assert [s.sft_weight for s in plan.srd.stages] == ["0.30", "0.20", "0.10"]
    assert plan.baseline.stages[0].samples == 900 and plan.baseline.steps == 3 * math.ceil(900 / 16)
    assert plan.baseline.sample_passes == 2700
    # no tokenizer on disk: characters / 4, flagged as an estimate
    assert not plan.tokens_per_sample.measured and 50 < plan.tokens_per_sample.value < 512
    assert plan.srd.tokens == pytest.approx(plan.srd.sample_passes * plan.tokens_per_sample.value)


def test_processes_multiply_the_global_batch(tmp_path):
    config = config_from_dict(dolly_config(tmp_path, "nonexistent-org/student"))
    one, four = plan_run(config, num_processes=1), plan_run(config, num_processes=4)
    assert four.global_batch == 4 * one.global_batch
    assert four.srd.steps < one.srd.steps
    assert four.srd.sample_passes == pytest.approx(one.srd.sample_passes, rel=0.05)


def test_measures_tokens_with_a_local_student_tokenizer(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    plan = plan_run(config_from_dict(dolly_config(tmp_path, str(ws / "student"))))
    assert plan.tokens_per_sample.measured
    assert "student tokenizer" in plan.tokens_per_sample.source
    assert plan.tokens_per_sample.value <= 512


def test_missing_data_is_estimated_and_says_so(tmp_path):
    raw = dolly_config(tmp_path, "nonexistent-org/student")
    raw["data"]["train"]["train"] = str(tmp_path / "absent.jsonl")
    config = config_from_dict(raw)
    assumed = plan_run(config)
    assert assumed.samples.value == DOLLY_TRAIN_SAMPLES and not assumed.samples.measured
    assert assumed.tokens_per_sample.value == ASSUMED_TOKENS_PER_SAMPLE
    text = assumed.render()
    assert "absent.jsonl" in text and "--num-samples" in text and "(ESTIMATE)" in text
    given = plan_run(config, num_samples=1200, tokens_per_sample=100)
    assert [s.samples for s in given.srd.stages] == [300, 600, 900]
    assert given.srd.tokens == pytest.approx(given.srd.sample_passes * 100)


def test_recorded_reflection_and_curation_are_used(tmp_path):
    ws = make_workspace(tmp_path / "ws", n_samples=24)
    config = make_config(
        ws,
        "recorded",
        curriculum={"pacer": {"name": "baby_step", "num_bins": 2}},
        train={"batch_size": 4},
        baseline={"match_srd_steps": True},
    )
    run_dir = config.run.dir
    run_dir.mkdir(parents=True)
    ids = [f"s{i}" for i in range(24)]
    lengths = {i: 10 + n for n, i in enumerate(ids)}
    rows = [{"id": i, "prompt_tokens": lengths[i] - 3, "response_tokens": 3} for i in ids]
    (run_dir / "reflection.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    bins = {i: (0 if n < 5 else 1 if n < 10 else None) for n, i in enumerate(reversed(ids))}  # 5 + 5 kept
    curation = [
        {"id": i, "values": {}, "ranks": {}, "fused": 0.0, "rank": n + 1, "kept": bins[i] is not None, "bin": bins[i]}
        for n, i in enumerate(ids)
    ]
    (run_dir / "curation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in curation), encoding="utf-8")

    plan = plan_run(config)
    assert plan.tokens_per_sample.measured and "reflection.jsonl" in plan.tokens_per_sample.source
    first, second = plan.srd.stages
    assert (first.samples, second.samples) == (5, 10)
    first_ids = [i for i in ids if bins[i] == 0]
    assert first.tokens == pytest.approx(first.sample_passes * sum(lengths[i] for i in first_ids) / 5)
    assert plan.baseline.steps == plan.srd.steps  # match_srd_steps
    assert "curation.jsonl exists" in plan.render()


def test_render_lists_phases_stages_and_the_comparison(tmp_path):
    text = plan_run(config_from_dict(dolly_config(tmp_path, "nonexistent-org/student"))).render()
    for phase in ("prepare", "reflection", "curation", "train srd", "train baseline", "evaluate", "report"):
        assert phase in text
    assert "srd training (pacer baby_step)" in text and "baseline training (pacer all)" in text
    assert "SRD vs baseline" in text
    assert "NOT AVAILABLE" in text  # the teacher id is checked, not loaded


def test_sample_passes_counts_partial_batches():
    assert sample_passes(10, 3, 4) == 10  # one epoch: 4 + 4 + 2
    assert sample_passes(10, 4, 4) == 14  # second epoch started
    assert sample_passes(10, 6, 4) == 20
    assert sample_passes(0, 5, 4) == 0


def test_invalid_num_samples(tmp_path):
    with pytest.raises(SRDError, match="--num-samples"):
        plan_run(config_from_dict(dolly_config(tmp_path, "x/y")), num_samples=0)
