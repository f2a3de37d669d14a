"""load_samples: the config's data section, limits, the on_bad_sample policy, any task validated."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from shared_data import DATA

from srd_core import plugins
from srd_core.components import Task
from srd_core.config import config_from_dict
from srd_core.data.samples import carve_dev, load_samples, load_split
from srd_core.errors import ConfigError, DataError
from srd_core.hookspecs import hookimpl
from srd_core.types import Sample


def config(data: dict, tmp_path: Path):
    return config_from_dict(
        {
            "run": {"name": "r", "output_dir": str(tmp_path)},
            "teacher": {"path": "unused"},
            "student": {"path": "unused"},
            "data": data,
        }
    )


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


GOOD = {"prompt": "Say hi.\n\n### Response:\n", "output": "hi"}


@pytest.fixture
def mixed_file(tmp_path: Path) -> Path:
    return write_rows(
        tmp_path / "mixed.jsonl",
        [
            GOOD,
            {"prompt": "a", "output": ""},  # line 2: empty reference
            {"prompt": "b"},  # line 3: missing field
            {"prompt": "c", "output": 7},  # line 4: non-string output
            {"prompt": "d", "output": ["x", "y"]},
            {"prompt": "é ünïcode ✓", "output": "ok"},
        ],
    )


def test_stop_is_the_default_and_names_file_line_field(tmp_path, mixed_file):
    cfg = config({"train": {"name": "minillm", "train": str(mixed_file)}}, tmp_path)
    assert cfg.data.on_bad_sample == "stop"
    with pytest.raises(DataError, match=r"^.*mixed\.jsonl, line 2: field 'output': empty reference$"):
        load_samples(cfg, "train")


def test_skip_policy_counts_bad_samples(tmp_path, mixed_file, caplog):
    cfg = config({"train": {"name": "minillm", "train": str(mixed_file)}, "on_bad_sample": "skip"}, tmp_path)
    with caplog.at_level(logging.WARNING, logger="srd.samples"):
        loaded = load_split(cfg, "train")
    assert [s.id for s in loaded.samples] == ["train-1", "train-5", "train-6"]
    assert loaded.samples[1].references == ["x", "y"]
    assert loaded.skipped_count == 3
    assert loaded.skipped_by_field == {"output": 3}
    assert "line 3: field 'output': missing field" in loaded.skipped[1].message
    assert "skipped 3 bad samples" in caplog.text


def test_limits_apply_to_valid_samples(tmp_path, mixed_file):
    cfg = config(
        {"train": {"name": "minillm", "train": str(mixed_file)}, "on_bad_sample": "skip", "limit_train": 2}, tmp_path
    )
    assert [s.id for s in load_samples(cfg, "train")] == ["train-1", "train-5"]
    # with a limit, records after the first N valid ones are not even validated
    cfg = config({"train": {"name": "minillm", "train": str(mixed_file)}, "limit_train": 1}, tmp_path)
    assert len(load_samples(cfg, "train")) == 1


@pytest.mark.skipif(not DATA.is_dir(), reason="shared test data not available")
def test_eval_split_from_data_eval_or_from_the_train_task(tmp_path):
    dolly = str(DATA / "dolly/dev.jsonl")
    carved = config({"train": {"name": "minillm", "train": dolly, "dev_size": 50}, "limit_eval": 10}, tmp_path)
    assert len(load_samples(carved, "train")) == 950
    assert [s.id for s in load_samples(carved, "eval")] == [f"train-{i}" for i in range(1, 11)]
    separate = config(
        {
            "train": {"name": "minillm", "train": dolly},
            "eval": {"name": "minillm", "eval": str(DATA / "dolly/valid.jsonl")},
        },
        tmp_path,
    )
    assert len(load_samples(separate, "eval")) == 500
    missing = config({"train": {"name": "minillm", "train": dolly}}, tmp_path)
    with pytest.raises(ConfigError, match="has no eval split"):
        load_samples(missing, "eval")
    with pytest.raises(ConfigError, match="unknown split"):
        load_samples(missing, "test")


def test_missing_file_is_one_line(tmp_path):
    cfg = config({"train": {"name": "minillm", "train": str(tmp_path / "nope.jsonl")}}, tmp_path)
    with pytest.raises(DataError, match=r"^train: file not found: .*nope\.jsonl$"):
        load_samples(cfg, "train")


def test_all_bad_is_an_error_even_when_skipping(tmp_path):
    path = write_rows(tmp_path / "bad.jsonl", [{"prompt": "a", "output": ""}])
    cfg = config({"train": {"name": "minillm", "train": str(path)}, "on_bad_sample": "skip"}, tmp_path)
    with pytest.raises(DataError, match="no valid samples"):
        load_samples(cfg, "train")


class ListTask(Task):
    """A third-party-style task returning ready samples, some of them invalid."""

    def load(self, split):
        return [
            Sample("a", "p1", ["r1"]),
            Sample("a", "p2", ["r2"]),  # duplicate id
            Sample("b", "p3", [""]),  # empty reference
            Sample("c", "p4", ["r4", "r5"]),
        ]


class ListTaskPlugin:
    @hookimpl
    def register_tasks(self, register):
        register("test_list_task", ListTask)


@pytest.fixture
def list_task():
    plugins.register(ListTaskPlugin(), name="test-list-task")
    yield
    plugins.unregister("test-list-task")


def test_any_task_goes_through_the_same_validation(tmp_path, list_task):
    cfg = config({"train": {"name": "test_list_task"}}, tmp_path)
    with pytest.raises(DataError, match=r"sample 1: field 'id': duplicate id 'a'"):
        load_samples(cfg, "train")
    cfg = config({"train": {"name": "test_list_task"}, "on_bad_sample": "skip"}, tmp_path)
    loaded = load_split(cfg, "train")
    assert [s.id for s in loaded.samples] == ["a", "c"]
    assert loaded.skipped_by_field == {"id": 1, "references": 1}


def test_carve_dev_edges():
    records = list(range(10))
    assert carve_dev(records, 3, None, 0) == (list(range(3, 10)), [0, 1, 2])
    assert carve_dev(records, None, None, 0) == (records, [])
    with pytest.raises(DataError, match="leaves no training samples"):
        carve_dev(records, 10, None, 0)


def test_chat_template_defaults_to_the_students_tokenizer(tmp_path):
    from tiny import train_tokenizer

    tokenizer = train_tokenizer(["hello world"] * 4, 300)
    tokenizer.chat_template = "{% for m in messages %}[{{ m['content'] }}]{% endfor %}>>"
    tokenizer.save_pretrained(tmp_path / "student")
    data = write_rows(tmp_path / "d.jsonl", [{"instruction": "Name a colour.", "output": "red"}])
    cfg = config_from_dict(
        {
            "run": {"name": "r", "output_dir": str(tmp_path)},
            "teacher": {"path": "unused"},
            "student": {"path": str(tmp_path / "student")},
            "data": {"train": {"name": "jsonl", "train": str(data), "chat_template": True}},
        }
    )
    assert load_samples(cfg, "train")[0].prompt == "[Name a colour.]>>"
