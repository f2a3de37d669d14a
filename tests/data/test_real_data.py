"""Real instruction data end to end: the MiniLLM-format files load, a tiny local model reflects on them and is
evaluated on Dolly and S-NI in one table."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from shared_data import DATA
from tiny import save_pair, tiny_llama, train_tokenizer

from srd_core.cli import cli
from srd_core.config import config_from_dict
from srd_core.evaluation.evaluate import evaluate_with
from srd_core.evaluation.sets import EVAL_SETS_FILE, load_eval_set, render_table, run_eval_sets
from srd_core.io import read_jsonl
from srd_core.plugins import get_component
from srd_core.reflection.reflect import run_reflection

FILES = {"dolly/dev.jsonl": 1000, "dolly/valid.jsonl": 500, "sinst/valid.jsonl": 1694, "uinst/valid.jsonl": 1050}

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="the shared real-data fixtures are not on this machine")


@pytest.mark.parametrize(("name", "count"), FILES.items())
def test_real_files_load_with_their_counts(name, count):
    samples = get_component("task", "minillm", eval=str(DATA / name)).load("eval")
    assert len(samples) == count
    assert len({s.id for s in samples}) == count
    assert all(
        s.prompt.endswith("### Response:\n") and s.references and all(r.strip() for r in s.references) for s in samples
    )


def test_multi_reference_outputs_are_kept_and_scored():
    samples = get_component("task", "minillm", eval=str(DATA / "sinst/valid.jsonl")).load("eval")
    raw = read_jsonl(DATA / "sinst/valid.jsonl")
    multi = [
        (s, r) for s, r in zip(samples, raw, strict=True) if isinstance(r["output"], list) and len(r["output"]) > 1
    ]
    assert multi
    sample, row = multi[0]
    assert sample.references == row["output"]
    config = config_from_dict(
        {
            "teacher": {"path": "x/t"},
            "student": {"path": "x/s"},
            "data": {"train": {"name": "minillm", "eval": "unused.jsonl"}},
        }
    ).eval
    # answering with the *last* reference scores 100: every reference counts, not only the first
    result = evaluate_with(lambda prompts, settings: [sample.references[-1]], [sample], config)
    assert result.score == pytest.approx(100.0)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny Llama with a BPE tokenizer trained on the real prompts and answers."""
    root = tmp_path_factory.mktemp("realdata")
    texts = []
    for name in ("dolly/dev.jsonl", "sinst/valid.jsonl"):
        for row in read_jsonl(DATA / name)[:300]:
            outputs = row["output"] if isinstance(row["output"], list) else [row["output"]]
            texts += [row["prompt"], *outputs]
    tokenizer = train_tokenizer(texts, 600)
    return save_pair(root / "model", tiny_llama(len(tokenizer), 32, 2, 2, seed=0, tokenizer=tokenizer), tokenizer)


def _config(root: Path, model: Path, train_file: str) -> dict:
    return {
        "run": {"name": Path(train_file).parent.name, "output_dir": str(root)},
        "teacher": {"path": str(model)},
        "student": {"path": str(model)},
        "data": {
            "train": {"name": "minillm", "train": str(DATA / train_file)},
            "limit_train": 32,
            "max_prompt_tokens": 256,
            "max_length": 512,
        },
        "reflection": {"batch_size": 16, "max_new_tokens": 8},
        "eval": {
            "protocol": "greedy",
            "max_new_tokens": 8,
            "batch_size": 16,
            "max_samples": 8,
            "sets": {
                "dolly": {"name": "minillm", "eval": str(DATA / "dolly/valid.jsonl")},
                "sinst": {"name": "minillm", "eval": str(DATA / "sinst/valid.jsonl")},
            },
        },
    }


@pytest.mark.parametrize("train_file", ["dolly/dev.jsonl", "sinst/valid.jsonl"], ids=["dolly", "sinst"])
def test_reflection_on_32_real_samples(tmp_path, tiny_model, train_file):
    config = config_from_dict(_config(tmp_path, tiny_model, train_file))
    result = run_reflection(config, config.run.dir, progress=False)
    records = result.records
    assert len(records) == 32
    assert [r.id for r in records] == [f"train-{i}" for i in range(1, 33)]
    assert all(math.isfinite(r.ce) and r.ce > 0 for r in records)
    assert all(0 < r.prompt_tokens <= 256 and r.response_tokens > 0 and r.output_tokens <= 8 for r in records)
    assert (config.run.dir / "reflection.jsonl").is_file()


def test_evaluation_table_on_dolly_and_sinst(tmp_path, tiny_model):
    config = config_from_dict(_config(tmp_path, tiny_model, "dolly/dev.jsonl"))
    assert len(load_eval_set(config, "sinst", config.eval.sets["sinst"])) == 8
    rows = run_eval_sets(config, config.run.dir, models=["teacher", "student"], progress=False)
    assert [(r["model"], r["set"]) for r in rows] == [
        ("teacher", "dolly"),
        ("teacher", "sinst"),
        ("student_init", "dolly"),
        ("student_init", "sinst"),
    ]
    assert all(r["n"] == 8 and 0.0 <= r["score"] <= 100.0 for r in rows)
    stored = read_jsonl(config.run.dir / EVAL_SETS_FILE)
    assert len(stored) == 4
    table = render_table(stored, ["dolly", "sinst"])
    header, *body = table.splitlines()
    assert header.split() == ["model", "dolly", "sinst", "avg"]
    assert [line.split()[0] for line in body] == ["teacher", "student_init"]
    teacher = {r["set"]: r["score"] for r in rows if r["model"] == "teacher"}
    assert body[0].split()[-1] == f"{(teacher['dolly'] + teacher['sinst']) / 2:.2f}"


def test_evaluate_sets_command_prints_one_table(tmp_path, tiny_model):
    raw = _config(tmp_path, tiny_model, "dolly/dev.jsonl")
    raw["eval"]["max_samples"] = 4
    path = tmp_path / "sets.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = CliRunner().invoke(cli, ["evaluate-sets", str(path), "--model", "student"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["model", "dolly", "sinst", "avg"]
    assert lines[1].split()[0] == "student_init" and len(lines[1].split()) == 4
    assert lines[-1].endswith(EVAL_SETS_FILE)
