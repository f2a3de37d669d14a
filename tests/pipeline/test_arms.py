"""Training the arms side by side: threads shared out, a failing arm named in one error, Ctrl-C and SIGTERM
one line whatever the number of arms, each arm checkpointed and resumed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from terminal import as_in_a_terminal
from tiny_run import make_config, make_workspace, raw_config

from srd_core.errors import TrainingError
from srd_core.pipeline.arms import threads_per_arm, train_arms_in_parallel


def test_threads_are_shared_out(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert threads_per_arm(2) == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads_per_arm(2) == 1


def test_a_failing_arm_is_named_and_its_config_file_removed(tmp_path):
    ws = make_workspace(tmp_path / "ws", n_samples=8)
    config = make_config(ws, "arms")
    run_dir = config.run.dir
    run_dir.mkdir(parents=True)
    with pytest.raises(TrainingError, match=r"training the arms in parallel failed: nope \(exit code 1\)"):
        train_arms_in_parallel(config, run_dir, ["nope"])
    assert not (run_dir / ".arms-config.json").exists()


SLOW_STEPS = '''
import time
from pathlib import Path

from srd_core import plugins
from srd_core.hookspecs import hookimpl


class SlowSteps:
    """Every optimizer step takes 50 ms more; each arm marks its third step in the run dir."""

    @hookimpl
    def step_end(self, context, metrics):
        if metrics["step"] == 3:
            (Path(context.run_dir) / f"{context.label}.step3").touch()
        time.sleep(0.05)


plugins.register(SlowSteps(), name="test-slow-steps")
'''


def _start(config: Path, tmp_path: Path, log: Path) -> subprocess.Popen:
    """`srd run CONFIG` in a session of its own (as a shell's foreground job: a Ctrl-C goes to its group), every
    Python process of it (the arms too) with the slow-steps plugin of ``sitecustomize``."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SLOW_STEPS)
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    srd = Path(sys.executable).parent / "srd"
    return subprocess.Popen(
        [str(srd), "run", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),
        env=env,
        start_new_session=True,
        preexec_fn=as_in_a_terminal,
    )


def _wait_for(condition, proc: subprocess.Popen, log: Path, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.05)


def test_ctrl_c_with_parallel_arms_checkpoints_both_and_prints_one_line(tmp_path):
    """Ctrl-C at the terminal goes to the foreground process group: one line (not a traceback per arm), exit
    130, both arms checkpointed where they were; the rerun says where each resumes, and SIGTERM does the same."""
    ws = make_workspace(tmp_path / "ws")
    run_dir = ws / "arms"
    config = ws / "arms.yaml"
    long = {"name": "all", "epochs": 100}  # 600 steps an arm: far more than the test lets them run
    data = {
        "train": {
            "name": "jsonl",
            "train": str(ws / "train.jsonl"),
            "eval": str(ws / "train.jsonl"),
            "id_field": "id",
            "template": "{instruction}",
        }
    }
    raw = raw_config(
        ws,
        "arms",
        run={"name": "arms", "output_dir": str(ws), "parallel_arms": True},
        data=data,
        curriculum={"pacer": long},
        baseline={"pacer": long},
        reflection={"max_new_tokens": 8},
        report={"enabled": False},
    )
    config.write_text(yaml.safe_dump(raw))
    log = tmp_path / "first.log"
    proc = _start(config, tmp_path, log)
    _wait_for(lambda: all((run_dir / f"{arm}.step3").exists() for arm in ("srd", "baseline")), proc, log)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=120) == 130, log.read_text()[-3000:]
    stderr = log.read_text()
    assert "Traceback" not in stderr
    assert sum("interrupted" in line for line in stderr.splitlines()) == 1, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    match = re.fullmatch(
        r"srd: interrupted in train_srd and train_baseline; rerun the same command to resume "
        r"\(srd from step (\d+), baseline from step (\d+)\)",
        last,
    )
    assert match, last
    steps = {"srd": int(match[1]), "baseline": int(match[2])}
    for arm, step in steps.items():
        assert step >= 3 and (run_dir / arm / "checkpoints" / f"step-{step:07d}" / "model.safetensors").is_file()

    log = tmp_path / "second.log"
    proc = _start(config, tmp_path, log)
    said = [f"{arm}: resuming from step {step} (checkpoint step-{step:07d})" for arm, step in steps.items()]
    _wait_for(lambda: all(s in log.read_text() for s in said), proc, log)
    os.killpg(proc.pid, signal.SIGTERM)  # a SIGTERM to the group reaches the parent only, as a `kill` would
    assert proc.wait(timeout=120) == 143, log.read_text()[-3000:]
    stderr = log.read_text()
    assert "Traceback" not in stderr and sum("interrupted" in line for line in stderr.splitlines()) == 1
    assert stderr.strip().splitlines()[-1].startswith("srd: interrupted in train_srd and train_baseline; ")
