"""Re-ranking unseen samples: pure stage rebuilding, and the stage_start hook on a real tiny student."""

from __future__ import annotations

import json

import pytest
from srd_rereflect.pacer import ReReflect
from srd_rereflect.plugin import stage_start
from srd_rereflect.rerank import remap_stages, unseen_slots

from srd_core.components import StagePlan
from srd_core.config import config_from_dict
from srd_core.context import TrainContext
from srd_core.types import Sample


def baby_steps(ids: list[str], n: int = 3) -> list[StagePlan]:
    bins = [ids[b * len(ids) // n : (b + 1) * len(ids) // n] for b in range(n)]
    return ReReflect(ReReflect.Params(num_bins=n)).stages(bins, ids)


def test_unseen_slots_and_remap_keep_the_cumulative_structure():
    stages = baby_steps([f"s{i}" for i in range(9)])
    assert stages[0].ids == ["s0", "s1", "s2"]
    slots = unseen_slots(stages, 1)
    assert slots == ["s3", "s4", "s5", "s6", "s7", "s8"]
    new_order = ["s8", "s3", "s7", "s4", "s6", "s5"]
    rebuilt = remap_stages(stages, 1, slots, new_order)
    assert rebuilt[0].ids == ["s0", "s1", "s2"]
    assert rebuilt[1].ids == ["s0", "s1", "s2", "s8", "s3", "s7"]
    assert rebuilt[2].ids == ["s0", "s1", "s2", "s8", "s3", "s7", "s4", "s6", "s5"]
    assert [p.epochs for p in rebuilt] == [p.epochs for p in stages]
    with pytest.raises(ValueError, match="permutation"):
        remap_stages(stages, 1, slots, ["s0", *new_order[1:]])


def test_unseen_slots_for_disjoint_stages():
    stages = [StagePlan(["a", "b"]), StagePlan(["c", "d"]), StagePlan(["e"])]
    assert unseen_slots(stages, 1) == ["c", "d", "e"]
    assert [p.ids for p in remap_stages(stages, 1, ["c", "d", "e"], ["e", "c", "d"])] == [["a", "b"], ["e", "c"], ["d"]]


def tiny_student():
    """A random tiny Llama and a byte-level BPE tokenizer trained on a few words."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=list(special.values()),
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(["reverse the words apple river stone", "answer: stone river apple"], trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, **special)
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=128,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    return model, tokenizer


def context_for(tmp_path, pacer: dict, label: str = "srd", stage: int = 1, arms: dict | None = None):
    config = config_from_dict(
        {
            **({"arms": arms} if arms is not None else {}),
            "run": {"name": "t", "output_dir": str(tmp_path)},
            "teacher": {"path": "unused"},
            "student": {"path": "unused"},
            "data": {"train": {"name": "synthetic", "n_train": 9}, "max_prompt_tokens": 32, "max_length": 48},
            "reflection": {"batch_size": 4, "max_new_tokens": 4},
            "curriculum": {"metrics": ["rouge_l", "cross_entropy"], "pacer": pacer},
        }
    )
    words = ["apple", "river", "stone", "apple river", "stone stone", "river apple stone", "a", "rr", "apple apple"]
    samples = {
        f"s{i}": Sample(id=f"s{i}", prompt=f"reverse the words {w}\nanswer: ", references=[w])
        for i, w in enumerate(words)
    }
    stages = baby_steps(list(samples))
    model, tokenizer = tiny_student()
    return TrainContext(
        run_dir=tmp_path,
        config=config,
        label=label,
        stages=stages,
        samples=samples,
        model=model,
        tokenizer=tokenizer,
        stage=stage,
    )


def test_stage_start_rescores_and_rebuilds_later_stages(tmp_path):
    context = context_for(tmp_path, {"name": "rereflect", "num_bins": 3})
    before = [list(p.ids) for p in context.stages]
    stage_start(context)
    after = [p.ids for p in context.stages]
    assert after[0] == before[0]
    assert set(after[1]) - set(after[0]) <= set(before[2]) and len(after[1]) == len(before[1])
    assert set(after[2]) == set(before[2])
    assert after[1] == after[2][: len(after[1])]  # still cumulative
    rows = [json.loads(line) for line in (tmp_path / "srd" / "rereflect" / "stage-1.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == before[2][3:]
    by_slot = sorted(rows, key=lambda r: r["new_slot"])
    assert after[2][3:] == [r["id"] for r in by_slot]  # the stages follow the recorded new ranking
    assert set(rows[0]["values"]) == {"rouge_l", "cross_entropy"}
    assert context.extra["rereflect"] == [
        {"stage": 1, "rescored": 6, "moved": sum(r["old_slot"] != r["new_slot"] for r in rows)}
    ]


@pytest.mark.parametrize(
    ("pacer", "label", "stage"),
    [
        ({"name": "baby_step"}, "srd", 1),  # another pacer: untouched
        ({"name": "rereflect"}, "baseline", 1),  # the baseline never re-ranks
        ({"name": "rereflect"}, "srd", 0),  # stage 0 trains on the initial ranking
        ({"name": "rereflect", "from_stage": 2}, "srd", 1),
    ],
)
def test_stage_start_leaves_other_runs_alone(tmp_path, pacer, label, stage):
    context = context_for(tmp_path, pacer, label, stage)
    before = [list(p.ids) for p in context.stages]
    stage_start(context)
    assert [p.ids for p in context.stages] == before
    assert not (tmp_path / label / "rereflect").exists()


def test_stage_start_follows_the_arm_not_its_label(tmp_path):
    """With an arms section, the arm whose pacer is rereflect is re-ranked whatever its name; the others are not."""
    arms = {"srd": {}, "dynamic": {"pacer": {"name": "rereflect", "num_bins": 3}}, "baseline": {"like": "baseline"}}
    dynamic = context_for(tmp_path, {"name": "baby_step", "num_bins": 3}, "dynamic", arms=arms)
    assert dynamic.arm.name == "dynamic" and dynamic.arm.curated
    stage_start(dynamic)
    assert (tmp_path / "dynamic" / "rereflect" / "stage-1.jsonl").is_file()
    assert dynamic.extra["rereflect"][0]["rescored"] == 6
    for label in ("srd", "baseline"):
        other = context_for(tmp_path, {"name": "baby_step", "num_bins": 3}, label, arms=arms)
        before = [list(p.ids) for p in other.stages]
        stage_start(other)
        assert [p.ids for p in other.stages] == before and "rereflect" not in other.extra
