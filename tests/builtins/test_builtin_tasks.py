"""The built-in loaders on the real MiniLLM-format files and on small generic / HF datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shared_data import DATA
from tiny import train_tokenizer

from srd_core.builtins.tasks import alpaca_prompt
from srd_core.errors import ConfigError, DataError, PluginError
from srd_core.plugins import get_component

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="shared test data not available")

COUNTS = {"dolly/dev": 1000, "dolly/valid": 500, "sinst/valid": 1694, "uinst/valid": 1050}


def raw_rows(name: str) -> list[dict]:
    with open(DATA / f"{name}.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_minillm_real_files_load_with_expected_counts(name):
    samples = get_component("task", "minillm", train=str(DATA / f"{name}.jsonl")).load("train")
    rows = raw_rows(name)
    assert len(samples) == COUNTS[name] == len(rows)
    assert len({s.id for s in samples}) == len(samples)
    assert samples[0].id == "train-1" and samples[-1].id == f"train-{len(rows)}"
    for sample, row in zip(samples, rows, strict=True):
        assert sample.prompt == row["prompt"]
        expected = row["output"] if isinstance(row["output"], list) else [row["output"]]
        assert sample.references == expected
        if "topic" in row:
            assert sample.meta["topic"] == row["topic"]


def test_sinst_keeps_multi_references():
    samples = get_component("task", "minillm", train=str(DATA / "sinst/valid.jsonl")).load("train")
    multi = [s for s in samples if len(s.references) > 1]
    assert len(multi) == 388
    assert max(len(s.references) for s in samples) > 2
    assert all(s.target == s.references[0] for s in multi)


def test_alpaca_template_reproduces_minillm_prompts():
    for name in COUNTS:
        for row in raw_rows(name)[:200]:
            assert alpaca_prompt(row["instruction"], row["input"]) == row["prompt"]


def test_file_loader_builds_the_same_prompts_from_fields():
    path = str(DATA / "dolly/dev.jsonl")
    by_fields = get_component("task", "jsonl", train=path).load("train")
    ready = get_component("task", "minillm", train=path).load("train")
    assert [s.prompt for s in by_fields] == [s.prompt for s in ready]
    assert [s.references for s in by_fields] == [s.references for s in ready]


def test_dev_size_carves_the_first_samples_like_minillm():
    task = get_component("task", "minillm", train=str(DATA / "dolly/dev.jsonl"), dev_size=100)
    train, dev = task.load("train"), task.load("eval")
    assert (len(train), len(dev)) == (900, 100)
    assert [s.id for s in dev] == [f"train-{i}" for i in range(1, 101)]
    assert train[0].id == "train-101"


def test_dev_ratio_is_seeded_disjoint_and_complete():
    path = str(DATA / "uinst/valid.jsonl")
    a = get_component("task", "minillm", train=path, dev_ratio=0.1, seed=1)
    b = get_component("task", "minillm", train=path, dev_ratio=0.1, seed=1)
    c = get_component("task", "minillm", train=path, dev_ratio=0.1, seed=2)
    dev_a, train_a = [s.id for s in a.load("eval")], [s.id for s in a.load("train")]
    assert len(dev_a) == 105 and len(train_a) == 945
    assert dev_a == [s.id for s in b.load("eval")] != [s.id for s in c.load("eval")]
    assert set(dev_a).isdisjoint(train_a) and len(set(dev_a) | set(train_a)) == 1050
    assert train_a == sorted(train_a, key=lambda i: int(i.split("-")[1]))


def test_separate_eval_file_and_missing_split():
    task = get_component("task", "minillm", train=str(DATA / "dolly/dev.jsonl"), eval=str(DATA / "dolly/valid.jsonl"))
    evals = task.load("eval")
    assert len(evals) == 500 and evals[0].id == "eval-1"
    only_train = get_component("task", "minillm", train=str(DATA / "dolly/dev.jsonl"))
    with pytest.raises(ConfigError, match="no eval split"):
        only_train.load("eval")


def test_params_are_checked():
    with pytest.raises(PluginError, match="dev_size or dev_ratio"):
        get_component("task", "minillm", train="x.jsonl", dev_size=10, dev_ratio=0.1)
    with pytest.raises(PluginError, match="exclude each other"):
        get_component("task", "minillm", train="x.jsonl", eval="y.jsonl", dev_size=10)
    with pytest.raises(PluginError, match="unknown placeholders"):
        get_component("task", "file", train="x.jsonl", template="{instruction} {question}")
    with pytest.raises(PluginError, match="unknown field"):
        get_component("task", "minillm", train="x.jsonl", prompt_fild="p")


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ({"prompt": "p", "output": ""}, "output", "empty reference"),
        ({"prompt": "p", "output": ["a", " "]}, "output", "reference 1 is empty"),
        ({"prompt": "p"}, "output", "missing field"),
        ({"output": "x"}, "prompt", "missing field"),
        ({"prompt": "p", "output": 3}, "output", "expected a string or a list of strings, got int"),
        ({"prompt": "p", "output": ["a", 2]}, "output", "reference 1 is not a string"),
        ({"prompt": 5, "output": "x"}, "prompt", "expected a string, got int"),
    ],
)
def test_bad_records_name_file_line_and_field(tmp_path, row, field, message):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "ok", "output": "fine"}, row])
    with pytest.raises(DataError) as info:
        get_component("task", "minillm", train=str(path)).load("train")
    text = str(info.value)
    assert text == f"{path}, line 2: field {field!r}: {text.split(': ', 2)[2]}"
    assert message in text and "\n" not in text


def test_invalid_json_and_duplicate_ids(tmp_path):
    path = write_jsonl(tmp_path / "broken.jsonl", [{"prompt": "a", "output": "b"}, "", '{"prompt": "a",'])
    with pytest.raises(DataError, match=r"broken.jsonl, line 3: invalid JSON"):
        get_component("task", "minillm", train=str(path)).load("train")
    path = write_jsonl(
        tmp_path / "dup.jsonl", [{"id": "x", "prompt": "a", "output": "b"}, {"id": "x", "prompt": "c", "output": "d"}]
    )
    with pytest.raises(DataError, match=r"dup.jsonl, line 2: field 'id': duplicate id 'x' \(first at line 1\)"):
        get_component("task", "minillm", train=str(path), id_field="id").load("train")


def _dolly_like_rows(n: int = 6) -> list[dict]:
    rows = raw_rows("dolly/valid")[:n]
    return [
        {"instruction": r["instruction"], "context": r["input"], "response": r["output"], "category": r["topic"]}
        for r in rows
    ]


def test_generic_formats_through_datasets(tmp_path):
    from datasets import Dataset

    rows = _dolly_like_rows()
    dataset = Dataset.from_list(rows)
    dataset.to_csv(str(tmp_path / "d.csv"), index=False)
    dataset.to_parquet(str(tmp_path / "d.parquet"))
    (tmp_path / "d.json").write_text(json.dumps(rows), encoding="utf-8")
    expected = [alpaca_prompt(r["instruction"], r["context"]) for r in rows]
    for suffix in ("csv", "parquet", "json"):
        task = get_component(
            "task", "file", train=str(tmp_path / f"d.{suffix}"), input_field="context", output_field="response"
        )
        samples = task.load("train")
        assert [s.prompt for s in samples] == expected, suffix
        assert [s.target for s in samples] == [r["response"] for r in rows]
        assert samples[0].meta["category"] == rows[0]["category"]
        assert samples[2].id == "train-3"


def test_custom_template_and_chat_template(tmp_path):
    rows = _dolly_like_rows(3)
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    plain = get_component(
        "task",
        "jsonl",
        train=str(path),
        input_field="context",
        output_field="response",
        template="Q: {instruction}\n{input}\nA:",
    ).load("train")
    assert plain[0].prompt == f"Q: {rows[0]['instruction']}\n{rows[0]['context']}\nA:"

    tokenizer = train_tokenizer(["hello world"] * 4, 300)
    tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    tokenizer.save_pretrained(tmp_path / "tok")
    chat = get_component(
        "task",
        "jsonl",
        train=str(path),
        input_field="context",
        output_field="response",
        chat_template=True,
        system="Be brief.",
        tokenizer=str(tmp_path / "tok"),
    ).load("train")
    user = rows[0]["instruction"] + (f"\n\n{rows[0]['context']}" if rows[0]["context"] else "")
    assert chat[0].prompt == f"<|system|>Be brief.\n<|user|>{user}\n<|assistant|>"

    tokenizer.chat_template = None
    tokenizer.save_pretrained(tmp_path / "plain_tok")
    with pytest.raises(ConfigError, match="has no chat template"):
        get_component(
            "task",
            "jsonl",
            train=str(path),
            output_field="response",
            chat_template=True,
            tokenizer=str(tmp_path / "plain_tok"),
        ).load("train")


def test_hf_loader_from_saved_and_raw_local_directories(tmp_path):
    from datasets import Dataset, DatasetDict

    rows = _dolly_like_rows(8)
    DatasetDict({"train": Dataset.from_list(rows[:5]), "test": Dataset.from_list(rows[5:])}).save_to_disk(
        str(tmp_path / "saved")
    )
    task = get_component(
        "task", "hf", path=str(tmp_path / "saved"), eval_split="test", input_field="context", output_field="response"
    )
    train, test = task.load("train"), task.load("eval")
    assert len(train) == 5 and len(test) == 3
    assert test[0].prompt == alpaca_prompt(rows[5]["instruction"], rows[5]["context"])
    assert test[0].id == "eval-1" and test[0].meta["category"] == rows[5]["category"]

    raw = tmp_path / "raw"
    raw.mkdir()
    write_jsonl(raw / "train.jsonl", rows)
    carved = get_component("task", "hf", path=str(raw), input_field="context", output_field="response", dev_size=2)
    assert [s.target for s in carved.load("eval")] == [r["response"] for r in rows[:2]]
    assert len(carved.load("train")) == 6

    with pytest.raises(ConfigError, match="no split 'validation'"):
        get_component("task", "hf", path=str(tmp_path / "saved"), eval_split="validation").load("eval")


def test_hf_loader_offline_gives_one_clear_line(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    task = get_component("task", "hf", path="databricks/databricks-dolly-15k")
    with pytest.raises(DataError) as info:
        task.load("train")
    assert str(info.value) == (
        "databricks/databricks-dolly-15k not found locally and the hub is unreachable; pass a local path"
    )
