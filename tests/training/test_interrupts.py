"""SIGTERM and SIGINT during `srd train`: exit code, the one-line message, and an exact resume.

SIGTERM (preemption) and SIGINT (Ctrl-C) write a checkpoint at the step they arrive and exit 143 / 130;
rerunning the same command says where it resumes, resumes there and ends with the same weights as an
uninterrupted run. A run killed before its first checkpoint restarts from step 0 and says so. Two
SIGTERMs in a row still end with the one line and exit 143. Real processes, real signals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from paths import REPO
from safetensors.torch import load_file
from terminal import as_in_a_terminal
from tiny_run import make_workspace, write_config

WORKER = REPO / "tests" / "signal_worker.py"
TRAIN = {"train": {"max_steps": None, "checkpoint_every": 4}, "curriculum": {"pacer": {"name": "all", "epochs": 3}}}
STEPS = 18  # 24 samples / batch 4 x 3 epochs


def srd(*args: str, signal_at: tuple[str, int | str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "tests")}
    if signal_at is None:
        command = [
            sys.executable,
            "-c",
            "import sys; from srd_core.cli import main; sys.argv[0] = 'srd'; main()",
            *args,
        ]
    else:
        command = [sys.executable, str(WORKER), signal_at[0], str(signal_at[1]), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, preexec_fn=as_in_a_terminal)


def weights(run_dir):
    return load_file(run_dir / "srd" / "final" / "model.safetensors")


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("interrupts"))


@pytest.fixture(scope="module")
def reference(ws):
    """The uninterrupted run's final weights."""
    proc = srd("train", str(write_config(ws, "whole", **TRAIN)))
    assert proc.returncode == 0, proc.stderr
    return weights(ws / "whole")


def test_sigterm_checkpoints_and_the_resume_ends_with_the_same_weights(ws, reference):
    config = write_config(ws, "term", **TRAIN)
    proc = srd("train", str(config), signal_at=("TERM", 6))
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"srd: interrupted in train_srd at step 6/{STEPS}; rerun the same command to resume from step 6"
    )
    assert "Traceback" not in proc.stderr
    run_dir = ws / "term" / "srd"
    assert (run_dir / "checkpoints" / "step-0000006" / "model.safetensors").is_file()  # written by SIGTERM
    assert not (run_dir / "final").exists()

    resumed = srd("train", str(config))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at step 6" in resumed.stdout
    assert "srd: resuming from step 6 (checkpoint step-0000006)" in resumed.stderr
    final = weights(ws / "term")
    assert final.keys() == reference.keys()
    assert all(torch.equal(final[k], reference[k]) for k in reference)
    steps = [r for r in (run_dir / "metrics.jsonl").read_text().splitlines() if r]
    assert len(steps) == STEPS  # every step logged once over both attempts


def test_sigint_checkpoints_exits_130_and_the_rerun_resumes_there(ws, reference):
    config = write_config(ws, "int", **TRAIN)
    proc = srd("train", str(config), signal_at=("INT", 7))
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"srd: interrupted in train_srd at step 7/{STEPS}; rerun the same command to resume from step 7"
    )
    assert "Traceback" not in proc.stderr and "Aborted!" not in proc.stderr
    checkpoints = sorted(p.name for p in (ws / "int" / "srd" / "checkpoints").iterdir())
    assert checkpoints == ["step-0000004", "step-0000007"]  # Ctrl-C checkpoints as SIGTERM does

    resumed = srd("train", str(config))
    assert resumed.returncode == 0, resumed.stderr
    assert "srd: resuming from step 7 (checkpoint step-0000007)" in resumed.stderr
    final = weights(ws / "int")
    assert all(torch.equal(final[k], reference[k]) for k in reference)


def test_a_kill_before_the_first_checkpoint_restarts_from_step_0_saying_so(ws):
    config = write_config(ws, "kill", **TRAIN)
    killed = srd("train", str(config), signal_at=("KILL", 2))
    assert killed.returncode == -signal.SIGKILL
    rerun = srd("train", str(config))
    assert rerun.returncode == 0, rerun.stderr
    assert "srd: restarting from step 0 (no checkpoint)" in rerun.stderr
    assert "resuming" not in rerun.stderr and "resumed" not in rerun.stdout


def test_two_sigterms_in_evaluate_end_with_one_line_and_exit_143(ws):
    """The second SIGTERM, 0.1 s after the first, lands while the process stops: it once killed the process by
    the signal after the message (Python resets its handlers at exit); it must change nothing."""
    train_spec = {
        "name": "jsonl",
        "train": str(ws / "train.jsonl"),
        "eval": str(ws / "train.jsonl"),
        "id_field": "id",
        "template": "{instruction}",
    }
    config = write_config(ws, "eval-twice", data={"train": train_spec}, eval={"max_new_tokens": 64})
    command = [
        sys.executable,
        "-c",
        "import sys; from srd_core.cli import main; sys.argv[0] = 'srd'; main()",
        "evaluate",
        str(config),
        "--model",
        "student",
    ]
    proc = subprocess.Popen(
        command, stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"}, preexec_fn=as_in_a_terminal
    )
    seen = b""
    while b"eval student_init" not in seen:  # its progress bar: evaluation has started
        chunk = os.read(proc.stderr.fileno(), 4096)
        assert chunk, seen.decode()
        seen += chunk
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    stderr = (seen + proc.stderr.read()).decode()
    assert proc.wait(timeout=120) == 143, (proc.returncode, stderr)
    assert stderr.strip().splitlines()[-1].endswith("srd: interrupted in evaluate; rerun the same command to resume")
    assert stderr.count("interrupted") == 1 and "Traceback" not in stderr


def test_a_signal_in_another_phase_names_it(ws):
    """SIGTERM in curate (Ctrl-C takes the same path: the phase turns either into one line)."""
    name, code = "TERM", 143
    train_spec = {
        "name": "jsonl",
        "train": str(ws / "train.jsonl"),
        "eval": str(ws / "train.jsonl"),
        "id_field": "id",
        "template": "{instruction}",
    }
    config = write_config(ws, f"phase-{name}", data={"train": train_spec}, report={"enabled": False})
    proc = srd("run", str(config), signal_at=(name, "curate"))
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "srd: interrupted in curate; rerun the same command to resume"
    assert "Traceback" not in proc.stderr
