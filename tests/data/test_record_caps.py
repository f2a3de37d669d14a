"""Data records too long or nested too deep: one line naming file and line under ``on_bad_sample: stop``, a
skipped and counted record under ``skip``, never a traceback and never minutes spent on one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from srd_core.config import config_from_dict
from srd_core.data.samples import load_split
from srd_core.errors import DataError

LONG = 10 * 2**20  # a 10 MB single line kept `prepare` busy for minutes
DEEP = 100_000  # a record nested this deep was a RecursionError traceback


def write_data(path: Path, bad: bytes) -> None:
    """Six good records; line 3 is ``bad``."""
    lines = [
        json.dumps({"instruction": f"say {w}", "output": w}).encode()
        for w in ["alpha", "beta", "gamma", "delta", "eps", "zeta"]
    ]
    lines.insert(2, bad)
    path.write_bytes(b"\n".join(lines) + b"\n")


def long_record() -> bytes:
    return json.dumps({"instruction": "say " + "x" * LONG, "output": "x"}).encode()


def deep_record() -> bytes:
    return b'{"instruction": "say deep", "output": ' + b"[" * DEEP + b"]" * DEEP + b"}"


def raw(tmp_path: Path, bad: bytes, policy: str = "stop", **data) -> dict:
    path = tmp_path / "bad.jsonl"
    write_data(path, bad)
    return {
        "run": {"name": "bad", "output_dir": str(tmp_path / "runs")},
        "teacher": {"preset": "micro-teacher"},
        "student": {"preset": "micro-student"},
        "data": {
            "train": {"name": "jsonl", "train": str(path), "dev_size": 2, "template": "{instruction}"},
            "max_prompt_tokens": 32,
            "max_length": 48,
            "on_bad_sample": policy,
            **data,
        },
        "prepare": {
            "vocab_size": 300,
            "teacher_sft": {"steps": 1, "batch_size": 4},
            "student_sft": {"steps": 1, "batch_size": 4},
        },
    }


def test_a_10_mb_line_is_one_bad_record_named_by_file_and_line(tmp_path):
    size = len(long_record())
    with pytest.raises(
        DataError,
        match=rf"bad\.jsonl, line 3: record of {size:,} bytes is above "
        rf"data\.max_record_bytes \(1,048,576\)",
    ):
        load_split(config_from_dict(raw(tmp_path, long_record())), "train")


def test_the_cap_is_data_max_record_bytes(tmp_path):
    record = json.dumps({"instruction": "say " + "x" * 3000, "output": "x"}).encode()
    assert len(load_split(config_from_dict(raw(tmp_path, record)), "train").samples) == 5  # 7 lines, 2 dev
    with pytest.raises(DataError, match=r"line 3: record of 3,\d{3} bytes is above data\.max_record_bytes \(2,000\)"):
        load_split(config_from_dict(raw(tmp_path, record, max_record_bytes=2000)), "train")


def test_a_record_nested_100000_deep_is_one_bad_record(tmp_path):
    with pytest.raises(DataError, match=r"bad\.jsonl, line 3: record nested deeper than 32 levels"):
        load_split(config_from_dict(raw(tmp_path, deep_record())), "train")
    shallow_but_deep = b'{"instruction": "say x", "output": "x", "meta": ' + b"[" * 40 + b"]" * 40 + b"}"
    with pytest.raises(DataError, match=r"line 3: record nested deeper than 32 levels"):
        load_split(config_from_dict(raw(tmp_path, shallow_but_deep)), "train")


def test_skip_drops_them_and_keeps_the_line_numbers(tmp_path):
    path = tmp_path / "bad.jsonl"
    config = config_from_dict(raw(tmp_path, long_record(), "skip"))
    path.write_bytes(
        path.read_bytes() + deep_record() + b"\n" + json.dumps({"instruction": "say last", "output": "last"}).encode()
    )
    loaded = load_split(config, "train")
    assert [s.message.split(": ", 1)[0].rsplit(", ", 1)[1] for s in loaded.skipped] == ["line 3", "line 8"]
    assert loaded.samples[-1].meta["source"].endswith("line 9")  # the last line, with no newline after it


@pytest.mark.parametrize("bad", ["long", "deep"])
def test_srd_prepare_stops_with_one_line(tmp_path, bad):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw(tmp_path, long_record() if bad == "long" else deep_record())))
    srd = Path(sys.executable).parent / "srd"
    proc = subprocess.run(
        [str(srd), "prepare", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("srd: error: ") and "bad.jsonl, line 3: record " in lines[0]
