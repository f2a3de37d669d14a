"""Compute accounting: a tiny run's FLOPs equal the hand computation from its tokens and parameter counts."""

from __future__ import annotations

import json

import pytest
from tiny_run import make_config, make_workspace, read_rows
from transformers import AutoModelForCausalLM, AutoTokenizer

from srd_core.data.encoding import encode_example
from srd_core.data.samples import load_samples
from srd_core.models.flops import format_flops
from srd_core.reflection.reflect import reflection_compute
from srd_core.training.loop import train
from srd_core.types import ReflectionRecord


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("ws"), n_samples=12)


def _params(path) -> int:
    """All parameters, tied weights once, counted by hand from the saved model's named parameters."""
    model = AutoModelForCausalLM.from_pretrained(path)
    seen, total = set(), 0
    for _, p in model.named_parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def _sample_tokens(ws, config) -> int:
    tokenizer = AutoTokenizer.from_pretrained(ws / "student")
    d = config.data
    return sum(
        len(encode_example(tokenizer, s.prompt, s.target, d.max_prompt_tokens, d.max_length).input_ids)
        for s in load_samples(config, "train")
    )


def test_online_run_flops_match_the_hand_computation(ws):
    # 12 samples, batch 4, 2 epochs: 6 steps, every sample seen twice; the teacher runs on every token
    cfg = make_config(ws, "flops", curriculum={"pacer": {"name": "all", "epochs": 2}}, train={"eval_every": 3})
    summary = train(cfg, cfg.run.dir, "srd", eval_fn=lambda model, step: {"rouge_l": 0.0})
    n_s, n_t = _params(ws / "student"), _params(ws / "teacher")
    tokens = 2 * _sample_tokens(ws, cfg)
    assert summary.tokens == tokens and summary.teacher_tokens == tokens
    assert (summary.student_params, summary.teacher_params) == (n_s, n_t)
    assert summary.flops == 6 * n_s * tokens + 2 * n_t * tokens
    assert summary.teacher_cache_flops is None
    on_disk = json.loads((cfg.run.dir / "srd" / "summary.json").read_text())
    assert on_disk["flops"] == summary.flops
    evals = read_rows(cfg.run.dir / "srd" / "eval.jsonl")  # cumulative compute with every eval-curve point
    assert [e["step"] for e in evals] == [3, 6]
    for e in evals:
        assert e["flops"] == 6 * n_s * e["tokens"] + 2 * n_t * e["tokens"]
    assert evals[-1]["flops"] == summary.flops
    metrics = read_rows(cfg.run.dir / "srd" / "metrics.jsonl")
    assert [m["flops"] for m in metrics] == sorted(m["flops"] for m in metrics)


def test_sft_only_skips_the_teacher_and_its_flops(ws):
    cfg = make_config(
        ws,
        "flops-sft",
        curriculum={"pacer": {"name": "all", "epochs": 1}},
        train={"sft_weight": {"name": "constant", "value": 1.0}},
    )
    summary = train(cfg, cfg.run.dir, "srd")
    tokens = _sample_tokens(ws, cfg)
    assert summary.teacher_tokens == 0
    assert summary.flops == 6 * _params(ws / "student") * tokens


def test_a_cached_teacher_counts_once_when_the_cache_is_built(ws):
    cfg = make_config(
        ws,
        "flops-cache",
        curriculum={"pacer": {"name": "all", "epochs": 3}},
        train={"teacher_signal": {"name": "topk", "k": 4}},
    )
    summary = train(cfg, cfg.run.dir, "srd")
    n_s, n_t, tokens = _params(ws / "student"), _params(ws / "teacher"), _sample_tokens(ws, cfg)
    assert summary.teacher_tokens == 0
    assert summary.flops == 6 * n_s * 3 * tokens  # three epochs of the student, no teacher forward
    assert summary.teacher_cache_flops == 2 * n_t * tokens  # one teacher forward per cached sample


def test_reflection_compute_counts_generation_and_ce_once():
    records = [
        ReflectionRecord("a", "h", "out", 1.0, prompt_tokens=10, response_tokens=4, output_tokens=6),
        ReflectionRecord("b", "h", "out", 1.0, prompt_tokens=7, response_tokens=3, output_tokens=2),
    ]
    compute = reflection_compute(1000, records)
    assert compute["generation_tokens"] == 10 + 6 + 7 + 2
    assert compute["ce_tokens"] == 10 + 4 + 7 + 3
    assert compute["flops"] == 2 * 1000 * (25 + 24)


def test_format_flops():
    assert format_flops(3.1e12) == "3.10 TFLOP"
    assert format_flops(None) == "—"
    assert format_flops(512) == "512 FLOP"
