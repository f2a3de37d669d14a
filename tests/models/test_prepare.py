"""The prepare phase: preset models built, trained, saved; cached by content hash; path models kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from tiny import save_pair, tiny_llama, train_tokenizer

from srd_core.cli import cli
from srd_core.config import config_from_dict
from srd_core.models.prepare import prepare, prepare_key


def micro_raw(run_dir: Path, **student: object) -> dict:
    """A prepare config that runs in seconds: micro presets, a few SFT steps, short sequences."""
    return {
        "run": {"name": run_dir.name, "output_dir": str(run_dir.parent), "seed": 0},
        "teacher": {"preset": "micro-teacher"},
        "student": {"preset": "micro-student", **student},
        "data": {
            "train": {"name": "synthetic", "n_train": 48, "n_eval": 8, "noise": 0.1},
            "max_prompt_tokens": 96,
            "max_length": 112,
        },
        "prepare": {
            "vocab_size": 320,
            "teacher_sft": {"steps": 3, "batch_size": 8},
            "student_sft": {"steps": 2, "batch_size": 8},
            "student_arch": {"hidden_size": 16},
        },
    }


def test_prepare_builds_trains_and_caches(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_dir = tmp_path / "micro"
    config = config_from_dict(micro_raw(run_dir))
    first = prepare(config, progress=False)
    assert first is not None and not first.skipped
    root = run_dir / "prepared"
    manifest = json.loads((root / "prepare.json").read_text())
    assert manifest["key"] == first.key == prepare_key(config)
    assert manifest["roles"] == ["teacher", "student"] and manifest["n_train"] == 48
    assert manifest["models"]["teacher"]["sft"]["steps"] == 3
    assert manifest["models"]["student"]["sft"]["steps"] == 2
    assert manifest["models"]["student"]["arch"]["hidden_size"] == 16
    assert manifest["models"]["student"]["sft"]["final_loss"] > 0
    tokenizer = AutoTokenizer.from_pretrained(root / "tokenizer")
    # 320 BPE entries (special tokens included) plus one token per recurring template line
    assert len(tokenizer) == manifest["tokenizer"]["vocab_size"]
    assert 320 <= len(tokenizer) <= 320 + 12
    for role in ("teacher", "student"):
        model = AutoModelForCausalLM.from_pretrained(root / role)
        assert model.config.vocab_size == len(tokenizer)
        assert AutoTokenizer.from_pretrained(root / role).get_vocab() == tokenizer.get_vocab()
    assert AutoModelForCausalLM.from_pretrained(root / "student").config.hidden_size == 16
    assert not list(run_dir.glob(".prepared*"))  # staging directory renamed away

    stamp = (root / "teacher" / "model.safetensors").stat().st_mtime_ns
    second = prepare(config_from_dict(micro_raw(run_dir)), progress=False)
    assert second.skipped and second.key == first.key
    assert (root / "teacher" / "model.safetensors").stat().st_mtime_ns == stamp

    changed = config_from_dict(micro_raw(run_dir) | {"prepare": {**micro_raw(run_dir)["prepare"], "seed": 7}})
    third = prepare(changed, progress=False)
    assert not third.skipped and third.key != first.key
    assert json.loads((root / "prepare.json").read_text())["key"] == third.key


def test_incomplete_prepared_dir_is_rebuilt(tmp_path):
    run_dir = tmp_path / "micro"
    config = config_from_dict(micro_raw(run_dir))
    prepare(config, progress=False)
    (run_dir / "prepared" / "student" / "config.json").unlink()
    again = prepare(config, progress=False)
    assert not again.skipped and (run_dir / "prepared" / "student" / "config.json").is_file()


def test_path_teacher_is_kept_and_lends_its_tokenizer(tmp_path):
    from transformers import AutoTokenizer

    tok = train_tokenizer(["Below is an instruction", "### Response:\n 1 2 3 apple"], vocab_size=300)
    teacher_dir = save_pair(tmp_path / "teacher", tiny_llama(len(tok), tokenizer=tok), tok)
    raw = micro_raw(tmp_path / "run")
    raw["teacher"] = {"path": str(teacher_dir)}
    result = prepare(config_from_dict(raw), progress=False)
    assert result.manifest["roles"] == ["student"]
    assert result.manifest["tokenizer"]["source"] == f"teacher:{teacher_dir}"
    assert not (tmp_path / "run" / "prepared" / "teacher").exists()
    student_tok = AutoTokenizer.from_pretrained(tmp_path / "run" / "prepared" / "student")
    assert student_tok.get_vocab() == tok.get_vocab()


def test_no_presets_nothing_to_prepare(tmp_path):
    raw = micro_raw(tmp_path / "run")
    raw["teacher"] = raw["student"] = {"path": str(tmp_path / "nowhere")}
    assert prepare(config_from_dict(raw)) is None


def test_cli_prepare_and_unknown_preset(tmp_path):
    raw = micro_raw(tmp_path / "run")
    config_file = tmp_path / "c.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    runner = CliRunner()
    first = runner.invoke(cli, ["prepare", str(config_file)])
    assert first.exit_code == 0, first.output
    assert "wrote" in first.output
    second = runner.invoke(cli, ["prepare", str(config_file)])
    assert second.exit_code == 0 and "skipped" in second.output
    bad = runner.invoke(cli, ["prepare", str(config_file), "--set", "student.preset=huge-student"])
    assert bad.exit_code == 2
    assert "student.preset: unknown preset 'huge-student'" in bad.output
    assert "Traceback" not in bad.output


@pytest.mark.parametrize("field,value", [("vocab_size", 10), ("teacher_sft", {"steps": -1})])
def test_prepare_section_is_validated(tmp_path, field, value):
    from srd_core.errors import ConfigError

    raw = micro_raw(tmp_path / "run")
    raw["prepare"][field] = value
    with pytest.raises(ConfigError, match=f"prepare.{field}"):
        config_from_dict(raw)


def test_prepare_key_follows_the_contents_of_a_path_teacher(tmp_path):
    from srd_core.config import config_from_dict
    from srd_core.models.prepare import prepare_key

    teacher = tmp_path / "teacher"
    teacher.mkdir()
    (teacher / "config.json").write_text("{}")
    config = config_from_dict(
        {
            "teacher": {"path": str(teacher)},
            "student": {"preset": "micro-student"},
            "data": {"train": {"name": "synthetic", "n_train": 8, "n_eval": 2}},
        }
    )
    before = prepare_key(config)
    assert prepare_key(config) == before
    (teacher / "model.safetensors").write_bytes(b"new weights")  # a regenerated teacher: the student is rebuilt
    assert prepare_key(config) != before
