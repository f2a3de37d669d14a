"""``prepare.student_lm``: the preset student pretrained as a language model before its warm start."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from test_prepare import micro_raw as prepare_micro_raw
from tiny import train_tokenizer

from srd_core.config import config_from_dict
from srd_core.data.encoding import IGNORE_INDEX
from srd_core.models.lm_corpus import lm_documents
from srd_core.models.prepare import prepare, prepare_key
from srd_core.pipeline.phases import PREPARE_CODE, phases_for
from srd_core.pipeline.planner import field_inputs
from srd_core.types import Sample

KEY_WITHOUT_STUDENT_LM = "b6b7c165caae6c86"
"""``prepare_key`` of ``micro_raw`` before ``student_lm`` existed (main at c486839)."""


def micro_raw(run_dir: Path, student_lm: dict | None = None) -> dict:
    """tests/models/test_prepare.py's seconds-long prepare config, optionally with ``student_lm``."""
    raw = prepare_micro_raw(run_dir)
    if student_lm is not None:
        raw["prepare"]["student_lm"] = student_lm
    return raw


def _weights(run_dir: Path) -> str:
    return hashlib.sha256((run_dir / "prepared" / "student" / "model.safetensors").read_bytes()).hexdigest()


def test_without_student_lm_the_key_is_todays():
    plain = config_from_dict(micro_raw(Path("/unused/micro")))
    raw = micro_raw(Path("/unused/micro"))
    raw["prepare"]["student_lm"] = None
    explicit_null = config_from_dict(raw)
    assert prepare_key(plain) == prepare_key(explicit_null) == KEY_WITHOUT_STUDENT_LM
    with_lm = config_from_dict(micro_raw(Path("/unused/micro"), {"steps": 5}))
    assert prepare_key(with_lm) != KEY_WITHOUT_STUDENT_LM


def test_student_lm_trains_and_changes_the_student(tmp_path):
    plain = prepare(config_from_dict(micro_raw(tmp_path / "plain")), progress=False)
    assert "lm" not in plain.manifest["models"]["student"]
    lm_cfg = {"steps": 40, "batch_size": 8, "lr": 1e-2, "warmup_ratio": 0.0}
    pretrained = prepare(config_from_dict(micro_raw(tmp_path / "lm", lm_cfg)), progress=False)
    lm = pretrained.manifest["models"]["student"]["lm"]
    assert lm["steps"] == 40 and lm["tokens"] > 0
    assert lm["final_loss"] < lm["first_loss"] - 0.5  # next-token loss falls on the training text
    assert pretrained.manifest["models"]["student"]["sft"]["steps"] == 2  # the warm start still follows
    assert "lm" not in pretrained.manifest["models"]["teacher"]
    assert _weights(tmp_path / "plain") != _weights(tmp_path / "lm")
    manifest = json.loads((tmp_path / "lm" / "prepared" / "prepare.json").read_text())
    assert manifest["key"] == pretrained.key != plain.key


def test_student_lm_instead_of_the_warm_start(tmp_path):
    raw = micro_raw(tmp_path / "run", {"steps": 3, "batch_size": 8, "corpus": "joined"})
    raw["prepare"]["student_sft"] = {"steps": 0}
    result = prepare(config_from_dict(raw), progress=False)
    student = result.manifest["models"]["student"]
    assert student["lm"]["steps"] == 3 and student["sft"]["steps"] == 0


def _corpus_tokenizer():
    return train_tokenizer(["### Response:\n apple river 2026-01-02", "Repeat the words apple river"], vocab_size=300)


def test_separate_corpus_keeps_prompts_and_responses_apart():
    tok = _corpus_tokenizer()
    samples = [
        Sample("a", "Repeat the words\n### Response:\n", ["apple river"]),
        Sample("b", "Repeat the words\n### Response:\n", ["river"]),
    ]
    docs = lm_documents(tok, samples, "separate", max_length=64)
    assert len(docs) == 4
    prompt, response = docs[0], docs[1]
    assert tok.eos_token_id not in prompt.input_ids  # nothing is learned after the prompt
    assert response.input_ids[-1] == tok.eos_token_id
    assert "apple river" in tok.decode(response.input_ids, skip_special_tokens=True)
    assert "Repeat" not in tok.decode(response.input_ids)
    for doc in docs:
        assert doc.labels == doc.input_ids and IGNORE_INDEX not in doc.labels
        assert doc.response_tokens == len(doc.input_ids)


def test_joined_corpus_is_one_document_per_sample_cut_to_max_length():
    tok = _corpus_tokenizer()
    samples = [Sample("a", "Repeat the words\n### Response:\n", ["apple river " * 20])]
    (doc,) = lm_documents(tok, samples, "joined", max_length=12)
    assert len(doc.input_ids) == 12 and doc.labels == doc.input_ids
    assert tok.decode(doc.input_ids, skip_special_tokens=True).startswith("Repeat")


def test_prepare_phase_declares_the_student_lm_fields(tmp_path):
    config = config_from_dict(micro_raw(tmp_path / "run", {"steps": 7, "corpus": "joined"}))
    prepare_phase = next(p for p in phases_for(config) if p.name == "prepare")
    inputs = field_inputs(prepare_phase, config)
    assert inputs["prepare.student_lm.steps"] == 7 and inputs["prepare.student_lm.corpus"] == "joined"
    assert "models/lm_corpus.py" in PREPARE_CODE  # its code is an input of the prepared models too


@pytest.mark.parametrize(
    "value,field",
    [
        ({"steps": 0}, "prepare.student_lm.steps"),
        ({"corpus": "chat"}, "prepare.student_lm.corpus"),
        ({"step": 5}, "prepare.student_lm.step"),
    ],
)
def test_student_lm_is_validated(tmp_path, value, field):
    from srd_core.errors import ConfigError

    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        config_from_dict(micro_raw(tmp_path / "run", value))
