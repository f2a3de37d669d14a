"""Real-model plumbing: hub/offline errors, teacher adapters, LoRA students, padded and mismatched vocabularies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from tiny import save_pair, tiny_llama, train_tokenizer
from tiny_run import make_config, make_samples, make_workspace

from srd_core.components import StagePlan
from srd_core.config import LoraConfig, ModelConfig
from srd_core.models import hub
from srd_core.models.loading import (
    ModelNotFoundError,
    VocabularyMismatchError,
    check_vocabularies,
    is_model_dir,
    load_causal_lm,
    load_student,
    load_teacher,
    load_tokenizer,
    save_student,
    saved_model_info,
)
from srd_core.plugins import get_component
from srd_core.training.kd_loss import distill_loss
from srd_core.training.loop import train

UNREACHABLE = "not found locally and the hub is unreachable; pass a local path"
LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("models"))


def _logits(model, ids=(1, 5, 7, 9, 11)) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([list(ids)])).logits


# ----------------------------------------------------------------------------------- offline / hub


def test_unknown_hub_id_offline_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = ModelConfig(path="nonexistent-org/nonexistent-model")
    with pytest.raises(ModelNotFoundError) as err:
        load_causal_lm(cfg, cfg.path, "teacher")
    message = str(err.value)
    assert message.startswith("teacher.path: model 'nonexistent-org/nonexistent-model' " + UNREACHABLE)
    assert "\n" not in message
    with pytest.raises(ModelNotFoundError, match="student.path: .*" + UNREACHABLE):
        load_tokenizer(cfg, cfg.path, "student")


def test_unreachable_hub_fails_fast_without_offline_mode(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    probes = []
    monkeypatch.setattr(hub, "_probe", lambda endpoint, timeout: probes.append(endpoint) or False)
    cfg = ModelConfig(path="some-org/some-model")
    with pytest.raises(ModelNotFoundError, match=UNREACHABLE + "$"):
        load_causal_lm(cfg, cfg.path, "student")
    assert probes == ["https://huggingface.co"]


def test_path_like_names_are_local_directories(tmp_path):
    cfg = ModelConfig(path=str(tmp_path / "missing" / "model"))
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        load_causal_lm(cfg, cfg.path, "student")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelNotFoundError, match=r"student.path: directory .*empty.* could not be loaded"):
        load_causal_lm(ModelConfig(path=str(empty)), str(empty), "student")


def test_cli_names_an_unreachable_model_in_one_line(ws, tmp_path):
    config = {
        "run": {"name": "offline", "output_dir": str(tmp_path)},
        "teacher": {"path": "nonexistent-org/nonexistent-model"},
        "student": {"path": str(ws / "student")},
        "data": {
            "train": {
                "name": "jsonl",
                "train": str(ws / "train.jsonl"),
                "id_field": "id",
                "template": "{instruction}",
                "dev_size": 4,
            }
        },
    }
    path = tmp_path / "offline.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    srd = Path(sys.executable).parent / "srd"
    done = subprocess.run(
        [str(srd), "evaluate", str(path), "--model", "teacher"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("srd: error:")]
    assert errors == [
        "srd: error: teacher.path: model 'nonexistent-org/nonexistent-model' "
        + UNREACHABLE
        + " (HF_HUB_OFFLINE is set)"
    ]


# --------------------------------------------------------------------------------------- adapters


def test_teacher_given_as_base_plus_adapter_is_merged_and_frozen(ws, tmp_path):
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    tokenizer = load_tokenizer(ModelConfig(path=str(ws / "teacher")), str(ws / "teacher"), "teacher")
    base = load_causal_lm(ModelConfig(path=str(ws / "teacher")), str(ws / "teacher"), "teacher")
    adapted = get_peft_model(
        base, PeftLoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    adapted.save_pretrained(tmp_path / "adapter")
    expected = _logits(adapted)
    plain = _logits(load_causal_lm(ModelConfig(path=str(ws / "teacher")), str(ws / "teacher"), "teacher"))

    cfg = make_config(ws, "adapter", teacher={"path": str(ws / "teacher"), "adapter": str(tmp_path / "adapter")})
    teacher, teacher_tok = load_teacher(cfg, cfg.run.dir)
    assert type(teacher).__name__ == "LlamaForCausalLM"  # merged, not a PeftModel
    assert not any(p.requires_grad for p in teacher.parameters())
    assert not teacher.training
    assert teacher_tok.get_vocab() == tokenizer.get_vocab()
    torch.testing.assert_close(_logits(teacher), expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(expected, plain, atol=1e-3)


def test_missing_adapter_is_one_clear_error(ws, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = make_config(ws, "noadapter", teacher={"path": str(ws / "teacher"), "adapter": "nobody/no-adapter"})
    with pytest.raises(ModelNotFoundError, match="teacher.adapter: model 'nobody/no-adapter' " + UNREACHABLE):
        load_teacher(cfg, cfg.run.dir)


# ------------------------------------------------------------------------------------------- LoRA


def _base_key(peft_key: str) -> str | None:
    """The plain model's key of a PEFT state-dict key (None for adapter weights)."""
    if "lora_" in peft_key:
        return None
    return peft_key.removeprefix("base_model.model.").replace(".base_layer.", ".")


def test_lora_student_trains_only_adapter_weights(ws):
    original = load_file(str(ws / "student" / "model.safetensors"))
    cfg = make_config(
        ws,
        "lora",
        student={"path": str(ws / "student"), "lora": LORA},
        train={"lr": 5e-2, "batch_size": 4, "max_steps": 3},
    )
    student, _ = load_student(cfg, cfg.run.dir)
    trainable = {n for n, p in student.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)

    ids = [s.id for s in make_samples()]
    summary = train(cfg, cfg.run.dir, "srd", stages=[StagePlan(ids, 1.0)])  # the real training engine
    assert summary.steps == 3
    checkpoint = sorted((cfg.run.dir / "srd" / "checkpoints").iterdir())[-1]
    state = load_file(str(checkpoint / "model.safetensors"))
    lora_b = [k for k in state if "lora_B" in k]
    assert lora_b and all(state[k].abs().max() > 0 for k in lora_b)  # B starts at zero: adapters moved
    base_keys = {k: _base_key(k) for k in state if _base_key(k) is not None}
    assert set(base_keys.values()) == set(original)
    for key, plain in base_keys.items():  # every base weight is bit-identical after training
        torch.testing.assert_close(state[key], original[plain], atol=0, rtol=0)


@pytest.mark.parametrize("merge", [False, True])
def test_saved_lora_student_loads_back_as_trained(ws, tmp_path, merge):
    cfg = make_config(ws, f"save-{merge}", student={"path": str(ws / "student"), "lora": LORA})
    student, tokenizer = load_student(cfg, cfg.run.dir)
    with torch.no_grad():
        for name, param in student.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    expected = _logits(student)
    out = save_student(student, tokenizer, tmp_path / "final", cfg, cfg.run.dir, merge=merge)
    info = saved_model_info(out)
    assert info["format"] == ("merged_lora" if merge else "lora_adapter")
    assert is_model_dir(out)
    if merge:
        assert (out / "model.safetensors").is_file() and (out / "adapter" / "adapter_model.safetensors").is_file()
    else:
        assert (out / "adapter_model.safetensors").is_file() and not (out / "config.json").exists()
    assert any("lora_" in n for n, _ in student.named_parameters())  # merging worked on a copy
    reloaded = load_causal_lm(cfg.student, str(out), "student")
    torch.testing.assert_close(_logits(reloaded), expected, atol=1e-5, rtol=1e-5)


def test_lora_target_modules_must_exist(ws):
    cfg = make_config(
        ws, "badlora", student={"path": str(ws / "student"), "lora": {**LORA, "target_modules": ["no_such_proj"]}}
    )
    with pytest.raises(Exception, match=r"student\.lora\.target_modules"):
        load_student(cfg, cfg.run.dir)


def test_lora_config_defaults():
    assert LoraConfig().merge_at_end is False


# ------------------------------------------------------------------------------------ vocabularies


@pytest.fixture(scope="module")
def padded_ws(ws, tmp_path_factory) -> Path:
    """A teacher whose embeddings and LM head have 32 rows more than the shared tokenizer."""
    root = tmp_path_factory.mktemp("padded")
    tokenizer = load_tokenizer(ModelConfig(path=str(ws / "student")), str(ws / "student"), "student")
    save_pair(root / "teacher", tiny_llama(len(tokenizer) + 32, 32, 2, 2, seed=3, tokenizer=tokenizer), tokenizer)
    return root


def test_padded_lm_head_pair_shares_the_tokenizer_size(ws, padded_ws):
    cfg = make_config(ws, "padded", teacher={"path": str(padded_ws / "teacher")})
    teacher, teacher_tok = load_teacher(cfg, cfg.run.dir)
    student, student_tok = load_student(cfg, cfg.run.dir)
    vocab = check_vocabularies(teacher_tok, student_tok, teacher, student)
    assert vocab == len(student_tok)
    assert teacher.get_output_embeddings().weight.shape[0] == vocab + 32

    ids = torch.tensor([[1, 5, 7, 9, 11, 13]])
    t_hidden = teacher.model(ids).last_hidden_state[0, :-1]
    s_hidden = student.model(ids).last_hidden_state[0, :-1]
    out = distill_loss(
        s_hidden,
        student.get_output_embeddings(),
        t_hidden,
        teacher.get_output_embeddings(),
        ids[0, 1:],
        get_component("kd_loss", "fkl"),
        temperature=2.0,
        sft_weight=0.2,
        vocab_size=vocab,
    )
    out.loss.backward()
    assert torch.isfinite(out.loss)


def test_padded_lm_head_pair_distils_through_the_engine(ws, padded_ws):
    cfg = make_config(
        ws, "padded-train", teacher={"path": str(padded_ws / "teacher")}, train={"batch_size": 4, "max_steps": 2}
    )
    ids = [s.id for s in make_samples()]
    summary = train(cfg, cfg.run.dir, "srd", stages=[StagePlan(ids, 1.0)])
    assert summary.steps == 2
    assert summary.final_loss is not None and torch.isfinite(torch.tensor(summary.final_loss))


def test_different_tokenizers_need_a_cross_tokenizer_plugin(ws, tmp_path):
    other = train_tokenizer(["completely different text for another vocabulary"] * 20, 280)
    save_pair(tmp_path / "teacher", tiny_llama(len(other), 32, 2, 2, seed=4, tokenizer=other), other)
    cfg = make_config(ws, "mismatch", teacher={"path": str(tmp_path / "teacher")})
    teacher, teacher_tok = load_teacher(cfg, cfg.run.dir)
    student, student_tok = load_student(cfg, cfg.run.dir)
    with pytest.raises(VocabularyMismatchError, match="teacher and student tokenizers differ") as err:
        check_vocabularies(teacher_tok, student_tok, teacher, student)
    assert "cross-tokenizer" in str(err.value) and "\n" not in str(err.value)


def test_same_tokenizer_loaded_twice_is_shared(ws):
    cfg = make_config(ws, "same")
    teacher, teacher_tok = load_teacher(cfg, cfg.run.dir)
    student, student_tok = load_student(cfg, cfg.run.dir)
    assert teacher_tok is not student_tok
    assert check_vocabularies(teacher_tok, student_tok, teacher, student) == len(student_tok)


def test_lm_head_smaller_than_the_tokenizer_is_an_error(ws, tmp_path):
    tokenizer = load_tokenizer(ModelConfig(path=str(ws / "student")), str(ws / "student"), "student")
    small = tiny_llama(len(tokenizer) - 5, 16, 1, 2, tokenizer=tokenizer)
    student = load_causal_lm(ModelConfig(path=str(ws / "student")), str(ws / "student"), "student")
    with pytest.raises(VocabularyMismatchError, match="teacher: the LM head has"):
        check_vocabularies(tokenizer, tokenizer, small, student)


def test_training_refuses_a_teacher_with_another_tokenizer(tmp_path):
    """The engine itself (not only check_vocabularies) stops a different-tokenizer pair with the clear message."""
    from tiny import save_pair, tiny_llama, train_tokenizer
    from tiny_run import make_config, make_workspace

    from srd_core.training.loop import train

    root = make_workspace(tmp_path / "ws", n_samples=8)
    other = train_tokenizer(["entirely different text ünïcode"] * 20, 290)
    save_pair(root / "teacher", tiny_llama(len(other), 32, 2, 2, seed=1, tokenizer=other), other)
    config = make_config(root, "mismatch")
    with pytest.raises(VocabularyMismatchError, match="cross-tokenizer KD plugin"):
        train(config, config.run.dir, "srd")
