"""Bad text in data files (bytes that are not UTF-8, lone surrogates): one line naming file and line under
``on_bad_sample: stop``, skipped and counted under ``skip``; tokenizer training never sees it."""

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
from srd_core.data.tokenizer_training import train_bpe_tokenizer
from srd_core.errors import DataError


def write_data(path) -> None:
    """Six good lines; line 3 holds a byte that is not UTF-8, line 5 a JSON-escaped lone surrogate."""
    lines = [
        json.dumps({"instruction": f"say {w}", "output": w}).encode()
        for w in ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    ]
    lines[2] = b'{"instruction": "say caf\xe9", "output": "caf\xe9"}'  # latin-1, not UTF-8
    lines[4] = b'{"instruction": "say \\ud800", "output": "x"}'
    path.write_bytes(b"\n".join(lines) + b"\n")


def raw(tmp_path, policy: str) -> dict:
    data = tmp_path / "bad.jsonl"
    write_data(data)
    return {
        "run": {"name": "bad", "output_dir": str(tmp_path / "runs")},
        "teacher": {"preset": "micro-teacher"},
        "student": {"preset": "micro-student"},
        "data": {
            "train": {"name": "jsonl", "train": str(data), "dev_size": 2, "template": "{instruction}"},
            "max_prompt_tokens": 32,
            "max_length": 48,
            "on_bad_sample": policy,
        },
        "prepare": {
            "vocab_size": 300,
            "teacher_sft": {"steps": 1, "batch_size": 4},
            "student_sft": {"steps": 1, "batch_size": 4},
        },
    }


def test_stop_names_file_and_line_of_the_bytes(tmp_path):
    with pytest.raises(DataError, match=r"bad\.jsonl, line 3: not valid UTF-8 \(byte 0xe9 at byte 25\)"):
        load_split(config_from_dict(raw(tmp_path, "stop")), "train")


def test_stop_names_the_lone_surrogate(tmp_path):
    config = raw(tmp_path, "stop")
    data = tmp_path / "bad.jsonl"
    data.write_bytes(b"\n".join(line for i, line in enumerate(data.read_bytes().splitlines()) if i != 2) + b"\n")
    with pytest.raises(DataError, match=r"bad\.jsonl, line 4: field 'prompt': lone surrogate U\+D800 at character 5"):
        load_split(config_from_dict(config), "train")


def test_skip_drops_both_and_the_tokenizer_trains(tmp_path):
    loaded = load_split(config_from_dict(raw(tmp_path, "skip")), "train")
    assert loaded.skipped_count == 2
    assert [s.message.split(": ", 1)[0].rsplit(", ", 1)[1] for s in loaded.skipped] == ["line 3", "line 5"]
    texts = [s.prompt + s.target for s in loaded.samples]
    assert len(texts) == 4  # 8 lines, 2 dev, 2 bad
    train_bpe_tokenizer(texts, vocab_size=300)


@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_srd_prepare_never_shows_a_traceback(tmp_path, policy):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw(tmp_path, policy)))
    srd = Path(sys.executable).parent / "srd"
    proc = subprocess.run(
        [str(srd), "prepare", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert "Traceback" not in proc.stderr
    if policy == "stop":
        assert proc.returncode == 2
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("srd: error: ")
        assert last.endswith("bad.jsonl, line 3: not valid UTF-8 (byte 0xe9 at byte 25)")
    else:
        assert proc.returncode == 0, proc.stderr
        assert "skipped 2 bad samples" in proc.stderr
        assert (tmp_path / "runs" / "bad" / "prepared" / "student" / "config.json").is_file()
