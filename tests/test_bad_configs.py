"""The bad-config corpus: every file in tests/bad_configs/ fails with its expected one-line message.

Each ``tests/bad_configs/<name>.yaml`` differs from ``good.yaml`` in one mistake and starts with
``# expect: <substring>``. Through both ``srd config validate`` and ``srd run`` it must give exit
code 2, exactly one line on stderr (``srd: error: ...`` holding the substring), no traceback, and
no run directory. The commands run in-process (the CLI as click runs it) in a copy of the corpus;
two cases also run as real ``srd`` processes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from paths import REPO

from srd_core.cli import cli

CORPUS = REPO / "tests" / "bad_configs"
CASES = sorted(p.name for p in CORPUS.glob("*.yaml") if p.name != "good.yaml")


def expected(name: str) -> str:
    first = (CORPUS / name).read_bytes().splitlines()[0].decode("utf-8")  # a case may hold non-UTF-8 bytes
    assert first.startswith("# expect: "), f"{name}: the first line must be '# expect: <substring>'"
    return first.removeprefix("# expect: ")


@pytest.fixture
def corpus(tmp_path, monkeypatch) -> Path:
    """A copy of the corpus as the working directory (relative paths in the configs resolve there)."""
    work = tmp_path / "corpus"
    shutil.copytree(CORPUS, work)
    monkeypatch.chdir(work)
    return work


def _created(work: Path) -> list[str]:
    """Whatever the command left in the working directory beyond the corpus itself."""
    return sorted(str(p.relative_to(work)) for p in work.rglob("*") if not (CORPUS / p.relative_to(work)).exists())


def test_corpus_is_large_and_distinct():
    assert len(CASES) >= 30
    messages = [expected(name) for name in CASES]
    assert len(set(messages)) == len(messages), "two corpus files expect the same message"


def test_good_config_is_valid(corpus):
    result = CliRunner().invoke(cli, ["config", "validate", "good.yaml"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "good.yaml: valid"
    assert _created(corpus) == []


@pytest.mark.parametrize("command", [["config", "validate"], ["run"]], ids=["validate", "run"])
@pytest.mark.parametrize("name", CASES)
def test_bad_config(corpus, name, command):
    result = CliRunner().invoke(cli, [*command, name])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"srd: error: {name}: ")
    assert "srd: error: srd:" not in lines[0] and "Traceback" not in lines[0]
    assert expected(name) in lines[0]
    assert result.stdout == ""
    assert _created(corpus) == []


@pytest.mark.parametrize("name,command", [("lr_10.yaml", "run"), ("stagewise_2_values_3_stages.yaml", "validate")])
def test_bad_config_real_process(corpus, name, command):
    srd = Path(sys.executable).parent / "srd"
    args = [str(srd), *(["config", "validate"] if command == "validate" else ["run"]), name]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"srd: error: {name}: {proc.stderr.split(': ', 3)[-1].strip()}"]
    assert expected(name) in proc.stderr and "Traceback" not in proc.stderr
    assert _created(corpus) == []


def test_presets_are_listed():
    """`srd config presets` lists what `unknown preset` errors offer."""
    result = CliRunner().invoke(cli, ["config", "presets"])
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()[1:]] == [
        "tiny-teacher",
        "tiny-student",
        "micro-teacher",
        "micro-student",
    ]


def test_fp16_needs_a_gpu(corpus):
    """fp16 is refused where there is no CUDA device and accepted where there is one."""
    import torch

    result = CliRunner().invoke(cli, ["config", "validate", "good.yaml", "--set", "train.mixed_precision=fp16"])
    if torch.cuda.is_available():
        assert result.exit_code == 0 and result.stdout.strip() == "good.yaml: valid", result.output
        return
    assert result.exit_code == 2
    assert (
        result.stderr == "srd: error: good.yaml: train.mixed_precision: fp16 needs a CUDA GPU; use bf16 or no on "
        "this machine\n"
    )
