"""The reflection pass on real text: correctness of CE and bookkeeping, cache, resume, 2 processes."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner
from paths import REPO
from shared_data import DATA
from tiny import save_pair, tiny_llama, train_tokenizer

import srd_core.reflection.reflect as reflect_mod
from srd_core.cli import cli
from srd_core.config import ReflectionConfig, config_from_dict
from srd_core.data.encoding import encode_example, encode_prompt
from srd_core.data.samples import load_samples
from srd_core.io import sha256_text
from srd_core.reflection.reflect import (
    META_FILE,
    REFLECTION_FILE,
    length_chunks,
    partial_path,
    reflect_samples,
    response_ce,
    run_reflection,
)
from srd_core.types import Sample

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="shared test data not available")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run far faster on one thread than on two contended ones."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _texts(name: str, n: int) -> list[str]:
    out = []
    with open(DATA / name, encoding="utf-8") as fh:
        for _, line in zip(range(n), fh, strict=False):
            row = json.loads(line)
            refs = row["output"] if isinstance(row["output"], list) else [row["output"]]
            out += [row["prompt"], *refs]
    return out


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    """A tiny Llama student and a BPE tokenizer trained on the real text."""
    tokenizer = train_tokenizer(_texts("dolly/dev.jsonl", 150) + _texts("sinst/valid.jsonl", 150), 400)
    model = tiny_llama(len(tokenizer), hidden=32, layers=2, heads=2, seed=0, tokenizer=tokenizer)
    return save_pair(tmp_path_factory.mktemp("student") / "student", model, tokenizer)


def raw_config(student: Path, root: Path, name: str, train: str, limit: int = 64, **reflection) -> dict:
    return {
        "run": {"name": name, "output_dir": str(root)},
        "teacher": {"path": str(student)},
        "student": {"path": str(student)},
        "data": {
            "train": {"name": "minillm", "train": str(DATA / train)},
            "limit_train": limit,
            "max_prompt_tokens": 48,
            "max_length": 80,
        },
        "reflection": {"batch_size": 8, "max_new_tokens": 6, **reflection},
    }


def write_config(raw: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.mark.parametrize("train", ["dolly/dev.jsonl", "sinst/valid.jsonl"])
def test_real_text_reflection_and_curation(student, tmp_path, train):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = config_from_dict(raw_config(student, tmp_path, "real", train))
    result = run_reflection(config, config.run.dir, progress=False)
    samples = load_samples(config, "train")
    records = result.records
    assert [r.id for r in records] == [s.id for s in samples] and len(records) == 64
    if train.startswith("sinst"):
        assert any(len(s.references) > 1 for s in samples)
    else:
        assert any("### Input:" not in s.prompt for s in samples)  # empty inputs
    assert any(not s.prompt.isascii() or not s.target.isascii() for s in samples)

    tokenizer = AutoTokenizer.from_pretrained(student)
    model = AutoModelForCausalLM.from_pretrained(student).eval()
    for sample, record in zip(samples, records, strict=True):
        assert record.prompt_hash == sha256_text(sample.prompt)
        example = encode_example(tokenizer, sample.prompt, sample.target, 48, 80)
        assert record.response_tokens == example.response_tokens >= 1
        assert record.prompt_truncated == encode_prompt(tokenizer, sample.prompt, 48).truncated
        assert 0 <= record.output_tokens <= 6
        with torch.no_grad():  # reference CE: HF's own loss on this one example, unpadded
            loss = model(input_ids=torch.tensor([example.input_ids]), labels=torch.tensor([example.labels])).loss
        assert math.isclose(record.ce, float(loss), rel_tol=1e-4)
    assert result.summary.truncated == sum(r.prompt_truncated for r in records) > 0

    lines = (config.run.dir / REFLECTION_FILE).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [s.id for s in samples]
    assert not partial_path(config.run.dir, 0).exists()

    from srd_core.curation.curate import run_curation

    curation = run_curation(config, config.run.dir)
    assert len(curation) == 64 and sum(c.kept for c in curation) == 48
    assert all(0.0 <= c.values["rouge_l"] <= 1.0 for c in curation)


def test_unicode_empty_and_long_prompts(student):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(student)
    model = AutoModelForCausalLM.from_pretrained(student)
    samples = [
        Sample("u", "日本語のテキスト 🚀 — ‫עברית‬ café\n\n### Response:\n", ["答え ✓"]),
        Sample("e", "", ["x"]),
        Sample("w", "   \n", ["\u200b zero width"]),
        Sample("l", "word " * 3000 + "\n\n### Response:\n", ["long " * 200]),
    ]
    cfg = ReflectionConfig(batch_size=3, max_new_tokens=4)
    records = reflect_samples(model, tokenizer, samples, cfg, max_prompt_tokens=32, max_length=48, progress=False)
    assert [r.id for r in records] == ["u", "e", "w", "l"]
    assert records[3].prompt_truncated and records[3].prompt_tokens == 32
    assert records[3].prompt_tokens + records[3].response_tokens == 48
    assert all(math.isfinite(r.ce) and r.ce > 0 for r in records)


def test_ce_chunks_cover_every_row_once_within_the_budget():
    lengths = [5, 300, 40, 40, 700, 1, 120, 90]
    chunks = length_chunks(lengths, token_budget=400)
    assert sorted(i for c in chunks for i in c) == list(range(len(lengths)))
    for chunk in chunks:
        widths = [lengths[i] for i in chunk]
        assert widths == sorted(widths, reverse=True)
        assert len(chunk) == 1 or len(chunk) * widths[0] <= 400
    assert chunks[0] == [4] and chunks[1] == [1]


def test_ce_does_not_depend_on_the_chunking(student):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(student)
    model = AutoModelForCausalLM.from_pretrained(student).eval()
    config = config_from_dict(raw_config(student, Path("unused"), "x", "sinst/valid.jsonl", limit=12))
    samples = load_samples(config, "train")
    one_pass = response_ce(model, tokenizer, samples, 48, 80, token_budget=10_000)
    chunked = response_ce(model, tokenizer, samples, 48, 80, token_budget=100)
    for (a, n), (b, m) in zip(one_pass, chunked, strict=True):
        assert n == m and math.isclose(a, b, rel_tol=1e-5)


def test_cache_is_reused_until_the_key_changes(student, tmp_path):
    raw = raw_config(student, tmp_path, "cache", "dolly/dev.jsonl", limit=16)
    first = run_reflection(config_from_dict(raw), tmp_path / "cache", progress=False)
    assert not first.summary.reused and first.summary.computed == 16
    again = run_reflection(config_from_dict(raw), tmp_path / "cache", progress=False)
    assert again.summary.reused and again.records == first.records
    raw["reflection"]["max_new_tokens"] = 3
    changed = run_reflection(config_from_dict(raw), tmp_path / "cache", progress=False)
    assert not changed.summary.reused and all(r.output_tokens <= 3 for r in changed.records)
    raw["data"]["limit_train"] = 12
    fewer = run_reflection(config_from_dict(raw), tmp_path / "cache", progress=False)
    assert not fewer.summary.reused and len(fewer.records) == 12
    meta = json.loads((tmp_path / "cache" / META_FILE).read_text())
    assert meta["key_parts"]["n_samples"] == 12 and meta["key_parts"]["generation"]["max_new_tokens"] == 3


@pytest.mark.parametrize("do_sample", [False, True])
def test_interrupted_pass_resumes_to_identical_file(student, tmp_path, monkeypatch, do_sample):
    raw = raw_config(student, tmp_path, "x", "sinst/valid.jsonl", limit=40, do_sample=do_sample, top_k=20)
    clean = run_reflection(config_from_dict(raw), tmp_path / "clean", progress=False)

    real_batch, calls = reflect_mod.reflect_batch, {"n": 0}

    def dies_on_third_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_batch(*args, **kwargs)

    monkeypatch.setattr(reflect_mod, "reflect_batch", dies_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        run_reflection(config_from_dict(raw), tmp_path / "resumed", progress=False)
    monkeypatch.setattr(reflect_mod, "reflect_batch", real_batch)
    partial = partial_path(tmp_path / "resumed", 0)
    assert len(partial.read_text().splitlines()) == 16 and not (tmp_path / "resumed" / REFLECTION_FILE).exists()
    with open(partial, "a", encoding="utf-8") as fh:  # a batch cut mid-write by a crash
        fh.write('{"key": "')
    resumed = run_reflection(config_from_dict(raw), tmp_path / "resumed", progress=False)
    assert resumed.summary.resumed == 16 and resumed.summary.computed == 24
    assert (tmp_path / "resumed" / REFLECTION_FILE).read_bytes() == (tmp_path / "clean" / REFLECTION_FILE).read_bytes()
    assert not partial.exists()
    assert resumed.records == clean.records


@pytest.fixture(scope="module")
def reference_run(student, tmp_path_factory):
    """An uninterrupted single-process run of the config the subprocess tests use."""
    root = tmp_path_factory.mktemp("reference")
    raw = raw_config(student, root, "ref", "dolly/dev.jsonl", limit=96, batch_size=4, max_new_tokens=8)
    run_reflection(config_from_dict(raw), root / "ref", progress=False)
    return raw, (root / "ref" / REFLECTION_FILE).read_bytes()


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}


def test_killed_process_resumes_to_identical_file(reference_run, tmp_path):
    raw, expected = reference_run
    raw = {**raw, "run": {"name": "killed", "output_dir": str(tmp_path)}}
    path = write_config(raw, tmp_path / "killed.yaml")
    run_dir = tmp_path / "killed"
    partial = partial_path(run_dir, 0)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from srd_core.cli import main; main()", "reflect", str(path)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if partial.is_file() and len(partial.read_text().splitlines()) >= 8:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the reflection finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (run_dir / REFLECTION_FILE).exists()
    done = len(partial.read_text().splitlines())
    assert 8 <= done < 96
    resumed = run_reflection(config_from_dict(raw), run_dir, progress=False)
    assert resumed.summary.resumed >= 8
    assert (run_dir / REFLECTION_FILE).read_bytes() == expected


def test_two_processes_give_the_same_file_as_one(reference_run, tmp_path):
    raw, expected = reference_run
    raw = {**raw, "run": {"name": "two", "output_dir": str(tmp_path)}}
    path = write_config(raw, tmp_path / "two.yaml")
    script = tmp_path / "srd_main.py"
    script.write_text("from srd_core.cli import main\nmain()\n", encoding="utf-8")
    torchrun = Path(sys.executable).parent / "torchrun"
    proc = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node", "2", str(script), "reflect", str(path)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "two" / REFLECTION_FILE).read_bytes() == expected
    meta = json.loads((tmp_path / "two" / META_FILE).read_text())
    assert meta["summary"]["processes"] == 2 and meta["summary"]["computed"] == 96
    assert proc.stdout.count("reflection: 96 samples") == 1  # the summary is printed once


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": "p", "output": ""}, "field 'output': empty reference"),
        ({"prompt": "p"}, "field 'output': missing field"),
        ({"prompt": "p", "output": {"a": 1}}, "field 'output': expected a string or a list of strings, got dict"),
    ],
)
def test_bad_input_exits_2_with_one_line(student, tmp_path, row, message):
    data = tmp_path / "bad.jsonl"
    data.write_text(json.dumps({"prompt": "fine", "output": "ok"}) + "\n" + json.dumps(row) + "\n", encoding="utf-8")
    raw = raw_config(student, tmp_path, "bad", "dolly/dev.jsonl")
    raw["data"]["train"]["train"] = str(data)
    config = write_config(raw, tmp_path / "bad.yaml")
    result = CliRunner().invoke(cli, ["reflect", str(config)])
    assert result.exit_code == 2  # found by validation, before the command loads a model
    assert result.output == f"srd: error: {config}: {data}, line 2: {message}\n"

    raw["data"]["on_bad_sample"] = "skip"
    result = CliRunner().invoke(cli, ["reflect", str(write_config(raw, tmp_path / "skip.yaml"))])
    assert result.exit_code == 0, result.output
    assert "reflection: 1 samples (1 computed)" in result.output
