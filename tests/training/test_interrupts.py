"""SIGTERM and SIGINT during `srd train`: exit code, the one-line message, and an exact resume.

SIGTERM (preemption) writes a checkpoint at the step it arrives and exits 143; rerunning the same
command resumes there and ends with the same weights as an uninterrupted run. SIGINT (Ctrl-C) exits
130 and names the newest checkpoint as the resume point. Real processes, real signals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import torch
from paths import REPO
from safetensors.torch import load_file
from tiny_run import make_workspace, write_config

WORKER = REPO / "tests" / "signal_worker.py"
TRAIN = {"train": {"max_steps": None, "checkpoint_every": 4}, "curriculum": {"pacer": {"name": "all", "epochs": 3}}}
STEPS = 18  # 24 samples / batch 4 x 3 epochs


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # as in a terminal; Python then raises KeyboardInterrupt


def srd(*args: str, signal_at: tuple[str, int | str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "tests")}
    if signal_at is None:
        command = [sys.executable, "-c", "import sys; from srd_core.cli import main; sys.argv[0] = 'srd'; main()",
                   *args]
    else:
        command = [sys.executable, str(WORKER), signal_at[0], str(signal_at[1]), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env,
                          preexec_fn=_default_sigint)


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
        f"srd: interrupted in train_srd at step 6/{STEPS}; rerun the same command to resume from step 6")
    assert "Traceback" not in proc.stderr
    run_dir = ws / "term" / "srd"
    assert (run_dir / "checkpoints" / "step-0000006" / "model.safetensors").is_file()  # written by SIGTERM
    assert not (run_dir / "final").exists()

    resumed = srd("train", str(config))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at step 6" in resumed.stdout
    final = weights(ws / "term")
    assert final.keys() == reference.keys()
    assert all(torch.equal(final[k], reference[k]) for k in reference)
    steps = [r for r in (run_dir / "metrics.jsonl").read_text().splitlines() if r]
    assert len(steps) == STEPS  # every step logged once over both attempts


def test_sigint_exits_130_naming_the_checkpoint_to_resume_from(ws):
    config = write_config(ws, "int", **TRAIN)
    proc = srd("train", str(config), signal_at=("INT", 7))
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"srd: interrupted in train_srd at step 7/{STEPS}; rerun the same command to resume from step 4")
    assert "Traceback" not in proc.stderr and "Aborted!" not in proc.stderr
    checkpoints = sorted(p.name for p in (ws / "int" / "srd" / "checkpoints").iterdir())
    assert checkpoints == ["step-0000004"]


def test_a_signal_in_another_phase_names_it(ws):
    """SIGTERM in curate (Ctrl-C takes the same path: the phase turns either into one line)."""
    name, code = "TERM", 143
    train_spec = {"name": "jsonl", "train": str(ws / "train.jsonl"), "eval": str(ws / "train.jsonl"),
                  "id_field": "id", "template": "{instruction}"}
    config = write_config(ws, f"phase-{name}", data={"train": train_spec}, report={"enabled": False})
    proc = srd("run", str(config), signal_at=(name, "curate"))
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "srd: interrupted in curate; rerun the same command to resume"
    assert "Traceback" not in proc.stderr
