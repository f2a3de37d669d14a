"""Evaluations during training (train.eval_every) never change the weights trained after them."""

from __future__ import annotations

import json
import shutil

import torch
from safetensors.torch import load_file
from tiny_run import make_config, make_workspace

from srd_core.config import EvalConfig
from srd_core.models.generation import GenerationSettings, generate
from srd_core.models.loading import load_tokenizer
from srd_core.training.loop import rouge_eval_fn, train


def test_sampled_generation_leaves_the_callers_random_stream_alone(tmp_path):
    ws = make_workspace(tmp_path / "ws", n_samples=8)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(ws / "student")
    tokenizer = load_tokenizer(make_config(ws).student, str(ws / "student"), "student")
    settings = GenerationSettings(max_new_tokens=6, do_sample=True, temperature=1.0, top_p=1.0, top_k=0, seed=7)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = generate(model, tokenizer, ["reverse: alpha beta\nanswer:"] * 3, settings)
    assert torch.equal(torch.get_rng_state(), state)
    assert generate(model, tokenizer, ["reverse: alpha beta\nanswer:"] * 3, settings) == first  # still seeded


def test_eval_every_gives_the_same_weights_as_no_evaluation(tmp_path):
    """A student with dropout draws random numbers at every step; sampled evaluations between steps
    (the DistiLLM protocol seeds its draws) must not shift them."""
    ws = make_workspace(tmp_path / "ws")
    dropout = ws / "student-dropout"
    shutil.copytree(ws / "student", dropout)
    config_file = dropout / "config.json"
    config_json = json.loads(config_file.read_text())
    config_json["attention_dropout"] = 0.3
    config_file.write_text(json.dumps(config_json))
    weights = {}
    for name, every in (("quiet", 0), ("evaluated", 2)):
        data = {
            "train": {
                "name": "jsonl",
                "train": str(ws / "train.jsonl"),
                "eval": str(ws / "train.jsonl"),
                "id_field": "id",
                "template": "{instruction}",
            }
        }
        cfg = make_config(
            ws,
            name,
            student={"path": str(dropout)},
            train={"eval_every": every},
            data=data,
            eval=EvalConfig(protocol="distillm", seeds=[1, 2], max_new_tokens=4).model_dump(),
        )
        eval_fn = rouge_eval_fn(cfg, cfg.run.dir) if every else None
        summary = train(cfg, cfg.run.dir, "srd", eval_fn=eval_fn)
        weights[name] = load_file(f"{summary.final_dir}/model.safetensors")
    assert (tmp_path / "ws" / "evaluated" / "srd" / "eval.jsonl").read_text().count("\n") >= 3
    assert weights["quiet"].keys() == weights["evaluated"].keys()
    for key, value in weights["quiet"].items():
        assert torch.equal(value, weights["evaluated"][key]), key
