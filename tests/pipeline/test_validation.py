"""Validation's data and model probes: what they read, what they leave to the run, and that they never
download or crash."""

from __future__ import annotations

import json
import os

import pytest
import transformers
import yaml
from click.testing import CliRunner

from srd_core.cli import cli
from srd_core.config import config_from_dict
from srd_core.errors import ConfigError
from srd_core.pipeline.validation import validate_config


def _config(tmp_path, train: dict, **extra) -> dict:
    return {
        "run": {"name": "v", "output_dir": str(tmp_path / "runs")},
        "teacher": {"preset": "micro-teacher"},
        "student": {"preset": "micro-student"},
        "data": {
            "train": {"name": "jsonl", "dev_size": 2, "template": "{instruction}", **train},
            "max_prompt_tokens": 32,
            "max_length": 48,
        },
        "curriculum": {"pacer": {"name": "baby_step", "num_bins": 1}},
        "train": {"temperature": {"name": "constant", "value": 1.0}, "sft_weight": {"name": "constant", "value": 0.2}},
        **extra,
    }


def _data(tmp_path, bad_line: int | None = None, n: int = 12):
    rows = [{"id": f"r{i}", "instruction": f"say {i}", "output": f"ok {i}"} for i in range(n)]
    if bad_line is not None:
        rows[bad_line - 1].pop("output")
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_the_probe_stops_where_the_run_would_stop(tmp_path):
    """data.limit_train caps what the run reads: a bad record after it is no error, one before it is."""
    raw = _config(tmp_path, {"train": _data(tmp_path, bad_line=8)})
    with pytest.raises(ConfigError, match=r"train\.jsonl, line 8: field 'output': missing field"):
        validate_config(config_from_dict(raw))
    raw["data"]["limit_train"] = 5  # lines 3-7 (after the 2 dev records) are all the run reads
    validate_config(config_from_dict(raw))


def test_a_chat_template_with_a_hub_tokenizer_is_left_to_the_run(tmp_path, monkeypatch):
    """Formatting with a tokenizer that is not a local directory would download it: validation must not."""

    def no_download(*args, **kwargs):
        raise AssertionError(f"validation loaded a tokenizer: {args}")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", no_download)
    monkeypatch.setattr(transformers.PreTrainedTokenizerFast, "from_pretrained", no_download)
    raw = _config(
        tmp_path, {"train": _data(tmp_path, bad_line=3), "chat_template": True, "tokenizer": "someone/hub-tokenizer"}
    )
    validate_config(config_from_dict(raw))  # the bad line 3 is found by the run, which has the tokenizer


def test_a_data_path_that_is_no_regular_file_is_named(tmp_path):
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    raw = _config(tmp_path, {"train": str(fifo)})
    with pytest.raises(ConfigError, match=r"data\.train\.train: .*pipe\.jsonl is not a regular file"):
        validate_config(config_from_dict(raw))


def test_a_student_transformers_cannot_build_leaves_lora_to_loading(tmp_path):
    """A local student whose config names no causal LM (or a broken one): no traceback from validation."""
    student = tmp_path / "student"
    student.mkdir()
    (student / "config.json").write_text(json.dumps({"model_type": "t5", "d_model": 8}))
    raw = _config(tmp_path, {"train": _data(tmp_path)})
    raw["student"] = {"path": str(student), "lora": {"target_modules": ["q"]}}
    validate_config(config_from_dict(raw), files=True, curates=False)


def test_the_top_k_bound_follows_the_teacher_a_preset_student_copies(tmp_path):
    """A preset student distilled from a real teacher takes the teacher's tokenizer: prepare.vocab_size
    (a BPE size for preset teachers) must not cap top-k's k; the teacher's head does."""
    from paths import REPO

    teacher = REPO / "srd_core" / "assets" / "demo-teacher"
    rows = json.loads((teacher / "config.json").read_text())["vocab_size"]
    raw = _config(tmp_path, {"train": _data(tmp_path)}, prepare={"vocab_size": 300})
    raw["teacher"] = {"path": str(teacher)}
    raw["train"]["teacher_signal"] = {"name": "topk", "k": rows - 1}
    validate_config(config_from_dict(raw))  # k above prepare.vocab_size, below the teacher's head: valid
    raw["train"]["teacher_signal"]["k"] = rows
    with pytest.raises(
        ConfigError,
        match=rf"train\.teacher_signal\.k: {rows} must be below the vocabulary size "
        rf"{rows}",
    ):
        validate_config(config_from_dict(raw))


def test_an_arms_own_cached_signal_is_bounded_too(tmp_path):
    """An arm of the `arms` section may set its own cached teacher signal: its k is checked like train's (the
    check used to look only at train and baseline and skip the run when both were online)."""
    from paths import REPO

    teacher = REPO / "srd_core" / "assets" / "demo-teacher"
    rows = json.loads((teacher / "config.json").read_text())["vocab_size"]
    raw = _config(tmp_path, {"train": _data(tmp_path)})
    raw["teacher"] = {"path": str(teacher)}
    raw["arms"] = {"srd": {}, "kd_top": {"like": "baseline", "teacher_signal": {"name": "topk", "k": rows}}}
    with pytest.raises(ConfigError, match=rf"arms\.kd_top\.teacher_signal\.k: {rows} must be below the vocabulary"):
        validate_config(config_from_dict(raw))


@pytest.mark.parametrize("link", ["run dir", "dangling run dir", "parent"])
def test_a_run_dir_resolving_outside_output_dir_is_refused(tmp_path, link):
    """`runs/v` a symlink to a place outside `runs/` (or a link on the way there): one line, exit 2, and the
    command writes nothing, neither here nor there."""
    outside = tmp_path / "elsewhere"
    raw = _config(tmp_path, {"train": _data(tmp_path)})
    runs = tmp_path / "runs"
    runs.mkdir()
    if link == "parent":
        outside.mkdir()
        (runs / "group").symlink_to(outside)
        raw["run"]["name"] = "group/v"
    else:
        if link == "run dir":
            outside.mkdir()
        (runs / "v").symlink_to(outside)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw))
    for command in (["config", "validate"], ["run"]):
        result = CliRunner().invoke(cli, [*command, str(config)])
        assert result.exit_code == 2, result.output
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"srd: error: {config}: run.name: ")
        assert f"resolves to {outside}" in lines[0] and "outside run.output_dir" in lines[0]
    assert sorted(p.name for p in runs.iterdir()) == ["group" if link == "parent" else "v"]
    assert not outside.exists() or list(outside.iterdir()) == []
    raw["run"]["name"] = "inside"  # a plain run dir next to the link is fine
    validate_config(config_from_dict(raw))
