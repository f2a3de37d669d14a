"""The training engine on tiny real models: loss goes down, outputs, stages, schedules, resets, errors."""

from __future__ import annotations

import math
import statistics

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file
from tiny_run import make_config, make_workspace, read_rows, write_config, write_curation
from transformers import AutoModelForCausalLM, AutoTokenizer

from srd_core import plugins
from srd_core.cli import cli
from srd_core.components import KDLoss, StagePlan
from srd_core.errors import ConfigError, TrainingError
from srd_core.hookspecs import hookimpl
from srd_core.training.loop import train
from srd_core.training.stages import match_steps, plan_label_stages, stage_lengths

IDS = [f"s{i}" for i in range(24)]
METRIC_FIELDS = {
    "step",
    "stage",
    "epoch",
    "loss",
    "ce",
    "kd",
    "T",
    "w_sft",
    "lr",
    "tokens_per_s",
    "teacher_share",
    "wall_time",
    "tokens",
    "response_tokens",
}
STAGEWISE = {
    "temperature": {"name": "stagewise", "values": [1.0, 1.5, 2.0]},
    "sft_weight": {"name": "stagewise", "values": [0.3, 0.2, 0.1]},
}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("ws"))


def test_end_to_end_loss_decreases_and_writes_outputs(ws):
    cfg = make_config(ws, "e2e", curriculum={"pacer": {"name": "all", "epochs": 4}}, train={"eval_every": 12})
    teacher = AutoModelForCausalLM.from_pretrained(ws / "teacher")
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    calls = []

    def eval_fn(model, step):
        calls.append((step, model.training))
        return {"score": float(step)}

    summary = train(cfg, cfg.run.dir, "srd", teacher=teacher, eval_fn=eval_fn)

    out = cfg.run.dir / "srd"
    rows = read_rows(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, 25)) and summary.steps == 24
    assert set(rows[0]) >= METRIC_FIELDS
    assert statistics.fmean(r["loss"] for r in rows[-3:]) < 0.9 * statistics.fmean(r["loss"] for r in rows[:3])
    for r in rows:  # the logged loss is the formula of its parts
        assert r["loss"] == pytest.approx(r["w_sft"] * r["ce"] + (1 - r["w_sft"]) * r["kd"], rel=1e-5)
        assert 0.0 <= r["teacher_share"] <= 1.0 and r["tokens_per_s"] > 0
    assert [r["tokens"] for r in rows] == sorted(r["tokens"] for r in rows)
    assert rows[-1]["response_tokens"] == summary.response_tokens > 0

    assert calls == [(12, False), (24, False)]
    evals = read_rows(out / "eval.jsonl")
    assert [(e["step"], e["score"]) for e in evals] == [(12, 12.0), (24, 24.0)]
    assert {"stage", "wall_time", "tokens"} <= set(evals[0])

    # teacher frozen and untouched
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    assert all(torch.equal(teacher_before[k], v) for k, v in teacher.state_dict().items())

    # final student: safetensors + tokenizer, loadable, and trained
    assert (out / "final" / "model.safetensors").is_file()
    final = AutoModelForCausalLM.from_pretrained(out / "final")
    AutoTokenizer.from_pretrained(out / "final")
    initial = AutoModelForCausalLM.from_pretrained(ws / "student")
    assert not torch.equal(final.lm_head.weight, initial.lm_head.weight)

    # a finished run is not trained again; other settings on the same run dir are an error
    again = train(cfg, cfg.run.dir, "srd", teacher=teacher)
    assert again.steps == summary.steps and len(read_rows(out / "metrics.jsonl")) == 24
    changed = make_config(ws, "e2e", curriculum={"pacer": {"name": "all", "epochs": 4}}, train={"lr": 1e-3})
    with pytest.raises(TrainingError, match="different train/data/srd settings"):
        train(changed, cfg.run.dir, "srd", teacher=teacher)


def _optimizer_steps(checkpoint_dir):
    state = torch.load(checkpoint_dir / "optimizer.pt", weights_only=True)["state"]
    return {int(s["step"]) for s in state.values()}


@pytest.mark.parametrize("reset", [True, False])
def test_stagewise_schedules_per_stage_and_optimizer_reset(ws, reset):
    name = f"stages-{reset}"
    run_dir = ws / name
    write_curation(run_dir, IDS)  # 18 kept in 3 bins of 6: stages of 6, 12, 18 samples
    cfg = make_config(
        ws,
        name,
        curriculum={"pacer": {"name": "baby_step", "num_bins": 3}},
        train={**STAGEWISE, "reset_optimizer_per_stage": reset, "keep_checkpoints": 1},
    )
    summary = train(cfg, run_dir, "srd")

    assert summary.stage_steps == [2, 3, 5] and summary.steps == 10
    rows = read_rows(run_dir / "srd" / "metrics.jsonl")
    assert [r["stage"] for r in rows] == [0] * 2 + [1] * 3 + [2] * 5
    for r in rows:
        assert (r["T"], r["w_sft"]) == ([1.0, 1.5, 2.0][r["stage"]], [0.3, 0.2, 0.1][r["stage"]])
    firsts = [rows[0], rows[2], rows[5]]
    if reset:  # each stage restarts at the peak LR with fresh AdamW moments
        assert all(r["lr"] == pytest.approx(1e-2) for r in firsts)
        assert _optimizer_steps(run_dir / "srd" / "checkpoints" / "step-0000010") == {5}
    else:  # one cosine over the whole run, moments kept
        lrs = [r["lr"] for r in rows]
        assert lrs == sorted(lrs, reverse=True) and lrs[2] < 1e-2
        assert _optimizer_steps(run_dir / "srd" / "checkpoints" / "step-0000010") == {10}
    assert [p.name for p in (run_dir / "srd" / "checkpoints").iterdir()] == ["step-0000010"]


def test_baseline_gets_the_srd_number_of_steps(ws):
    run_dir = ws / "plan"
    write_curation(run_dir, IDS)
    srd_section = {"pacer": {"name": "baby_step", "num_bins": 3}}
    cfg = make_config(ws, "plan", curriculum=srd_section, baseline={"match_srd_steps": True})
    srd = plan_label_stages(cfg, run_dir, "srd", IDS, global_batch=4)
    assert [len(p.ids) for p in srd] == [6, 12, 18]
    baseline = plan_label_stages(cfg, run_dir, "baseline", IDS, global_batch=4)
    assert len(baseline) == 1 and baseline[0].ids == IDS and baseline[0].epochs == pytest.approx(10 / 6)
    unmatched = make_config(ws, "plan", curriculum=srd_section)  # the default: the baseline's own budget
    assert plan_label_stages(unmatched, run_dir, "baseline", IDS, global_batch=4)[0].epochs == 1.0

    summary = train(cfg, run_dir, "baseline", samples=None)
    assert summary.steps == 10 and summary.stages == 1
    rows = read_rows(run_dir / "baseline" / "metrics.jsonl")
    assert {(r["T"], r["w_sft"]) for r in rows} == {(1.0, 0.2)}  # the baseline section's constants
    assert [r["epoch"] for r in rows] == [0] * 6 + [1] * 4  # the second epoch cut short


def test_stagewise_values_must_match_the_stages(ws):
    run_dir = ws / "mismatch"
    write_curation(run_dir, IDS)
    cfg = make_config(
        ws,
        "mismatch",
        curriculum={"pacer": {"name": "baby_step", "num_bins": 3}},
        train={"temperature": {"name": "stagewise", "values": [1.0, 2.0]}},
    )
    with pytest.raises(ConfigError, match=r"train\.temperature: .*2 values for 3 stages"):
        train(cfg, run_dir, "srd")


def test_cli_train_names_the_missing_curation_artifact(ws):
    path = write_config(ws, "nocur", curriculum={"pacer": {"name": "baby_step"}})
    result = CliRunner().invoke(cli, ["train", str(path)])
    assert result.exit_code == 2
    assert "curation.jsonl" in result.output and "srd curate" in result.output


def test_cli_train_with_pacer_all_needs_no_curation(ws):
    path = write_config(ws, "cli-all", train={"max_steps": 2})
    result = CliRunner().invoke(cli, ["train", str(path), "--label", "baseline"])
    assert result.exit_code == 0, result.output
    assert "baseline: 2 steps" in result.output
    assert (ws / "cli-all" / "baseline" / "final" / "config.json").is_file()


class NanOnCall(KDLoss):
    """Forward KL, except that call number ``nan_call`` (1-based) returns NaN."""

    calls = 0
    nan_call = 3

    def token_loss(self, student_logp, teacher_logp):
        NanOnCall.calls += 1
        value = (teacher_logp.exp() * (teacher_logp - student_logp)).sum(-1)
        return value * math.nan if NanOnCall.calls == NanOnCall.nan_call else value


class NanPlugin:
    @hookimpl
    def register_kd_losses(self, register):
        register("nan_on_call", NanOnCall)


@pytest.fixture
def nan_loss():
    plugins.register(NanPlugin(), name="test-nan-loss")
    NanOnCall.calls = 0
    yield
    plugins.unregister("test-nan-loss")


def test_nonfinite_loss_stops_naming_step_and_stage(ws, nan_loss):
    cfg = make_config(ws, "nan-stop", train={"kd_loss": "nan_on_call"})
    stages = [StagePlan(IDS[:8], 1.0), StagePlan(IDS[:8], 1.0)]
    with pytest.raises(TrainingError, match=r"non-finite loss \(nan\) at step 3, stage 2 of 2"):
        train(cfg, cfg.run.dir, "srd", stages=stages)


def test_nonfinite_loss_can_skip_the_batch(ws, nan_loss):
    cfg = make_config(ws, "nan-skip", train={"kd_loss": "nan_on_call", "on_nonfinite": "skip"})
    summary = train(cfg, cfg.run.dir, "srd", stages=[StagePlan(IDS[:8], 1.0), StagePlan(IDS[:8], 1.0)])
    assert summary.steps == 4 and summary.skipped_steps == 1
    rows = read_rows(cfg.run.dir / "srd" / "metrics.jsonl")
    assert [r["skipped"] for r in rows] == [False, False, True, False]
    weights = load_file(cfg.run.dir / "srd" / "final" / "model.safetensors")
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_grad_accumulation_matches_a_bigger_batch(ws):
    """Batch 4 vs. batch 2 × 2 micro-batches, with a partial last batch: the same token-mean loss."""
    stages = [StagePlan(IDS[:10], 2.0)]
    curves = []
    for name, section in (("acc1", {"batch_size": 4}), ("acc2", {"batch_size": 2, "grad_accum": 2})):
        cfg = make_config(ws, name, train=section)
        train(cfg, cfg.run.dir, "srd", stages=stages)
        curves.append([r["loss"] for r in read_rows(cfg.run.dir / "srd" / "metrics.jsonl")])
    assert len(curves[0]) == 6
    assert curves[0] == pytest.approx(curves[1], rel=1e-4)


def test_stage_start_hook_may_edit_later_stages(ws):
    class DropLater:
        @hookimpl
        def stage_start(self, context):
            if context.stage == 0:
                context.stages[1] = StagePlan(context.stages[1].ids[:4], 1.0)

    plugins.register(DropLater(), name="test-edit-stages")
    try:
        cfg = make_config(ws, "edit")
        summary = train(cfg, cfg.run.dir, "srd", stages=[StagePlan(IDS[:8], 1.0), StagePlan(IDS, 1.0)])
    finally:
        plugins.unregister("test-edit-stages")
    assert summary.stage_steps == [2, 1] and summary.steps == 3


def _losses(cfg, stages):
    train(cfg, cfg.run.dir, "srd", stages=stages)
    return [r["loss"] for r in read_rows(cfg.run.dir / "srd" / "metrics.jsonl")]


def test_gradient_checkpointing_gives_the_same_losses(ws):
    stages = [StagePlan(IDS[:12], 1.0)]
    plain = _losses(make_config(ws, "gc-off"), stages)
    checkpointed = _losses(make_config(ws, "gc-on", train={"gradient_checkpointing": True}), stages)
    assert checkpointed == pytest.approx(plain, rel=1e-5)


def test_bf16_autocast_trains(ws):
    cfg = make_config(ws, "bf16", train={"mixed_precision": "bf16"})
    losses = _losses(cfg, [StagePlan(IDS[:12], 1.0)])
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    weights = load_file(cfg.run.dir / "srd" / "final" / "model.safetensors")
    assert {w.dtype for w in weights.values()} == {torch.float32}  # autocast, not bf16 weights


def test_lora_student_trains_adapters_and_saves_a_merged_model(ws):
    pytest.importorskip("peft")
    cfg = make_config(ws, "lora", student={"path": str(ws / "student"), "lora": {"r": 4, "alpha": 8}})
    losses = _losses(cfg, [StagePlan(IDS[:12], 1.0)])
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    final = AutoModelForCausalLM.from_pretrained(cfg.run.dir / "srd" / "final")
    initial = AutoModelForCausalLM.from_pretrained(ws / "student")
    assert torch.equal(final.lm_head.weight, initial.lm_head.weight)  # frozen
    q_final = final.model.layers[0].self_attn.q_proj.weight
    assert not torch.equal(q_final, initial.model.layers[0].self_attn.q_proj.weight)  # adapters merged in


def test_match_steps_rescales_the_epochs_to_an_exact_step_count():
    stages = [StagePlan(IDS[:6], 1.0), StagePlan(IDS[:12], 1.0), StagePlan(IDS[:18], 1.0)]
    assert stage_lengths(stages, 4, None) == [2, 3, 5]
    for target in (10, 20, 7, 31):
        assert sum(stage_lengths(match_steps(stages, target, 4), 4, None)) == target
    assert stage_lengths(stages, 4, max_steps=4) == [2, 2, 0]


def test_an_eval_only_data_edit_keeps_the_trained_arm_and_keys_of_earlier_versions_are_accepted(ws):
    """data.limit_eval is read by the final evaluation only: editing it neither refuses a finished arm nor a resume;
    a checkpoint or summary keyed as earlier srd versions did (every data field) still counts as this config's."""
    import json

    from srd_core.training.loop import accepted_keys, config_key
    from srd_core.training.stages import label_settings

    pacer = {"pacer": {"name": "all", "epochs": 1}}
    cfg = make_config(ws, "eval-only", curriculum=pacer)
    summary = train(cfg, cfg.run.dir, "srd")
    edited = make_config(ws, "eval-only", curriculum=pacer, data={"limit_eval": 3})
    settings = label_settings(cfg, "srd")
    assert config_key(edited, settings) == config_key(cfg, settings) == summary.config_key
    assert config_key(edited, settings, legacy=True) != config_key(cfg, settings, legacy=True)
    assert train(edited, cfg.run.dir, "srd").steps == summary.steps  # not refused, not retrained

    path = cfg.run.dir / "srd" / "summary.json"
    record = json.loads(path.read_text())
    record["config_key"] = config_key(cfg, settings, legacy=True)  # as written by an earlier version
    path.write_text(json.dumps(record))
    assert record["config_key"] in accepted_keys(cfg, settings)
    assert train(cfg, cfg.run.dir, "srd").steps == summary.steps
    record["config_key"] = "another"
    path.write_text(json.dumps(record))
    with pytest.raises(TrainingError, match="different train/data/srd settings"):
        train(cfg, cfg.run.dir, "srd")
