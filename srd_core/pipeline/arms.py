"""Training a run's arms side by side: one child process per arm, the CPU threads split among them.

On a small CPU machine two single-threaded trainings of tiny models finish sooner together than one
after the other with two threads each, and their wall times stay comparable (each has a core); with
more arms than cores they share the cores, so their wall times are not each other's. Each
child runs ``train`` with the arm's eval-during-training exactly as the sequential path does and logs
one line per evaluation (progress bars off, two would overwrite each other); a failed arm ends the
phase with its exit code. The children run in sessions of their own, so a Ctrl-C reaches this process
only: it sends SIGTERM to every arm still training (each checkpoints and exits without a word, or dies
at once if it is still starting), waits for them and stops with the one line that says where each
resumes (exit 130 for SIGINT, 143 for SIGTERM). A child also gets SIGTERM when this process dies.

    python -m srd_core.pipeline.arms CONFIG_JSON RUN_DIR LABEL   (what each child runs)
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from srd_core.config import SRDConfig, config_from_dict
from srd_core.data.samples import load_samples
from srd_core.errors import Interrupted, Terminated, TrainingError
from srd_core.io import write_json_atomic
from srd_core.pipeline.arm_progress import ArmProgress
from srd_core.rundir import ARMS_CONFIG_FILE, CHECKPOINTS_DIR


def threads_per_arm(n_arms: int) -> int:
    """Torch threads for each child: the cores (or ``OMP_NUM_THREADS``) shared out, at least one."""
    total = int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)
    return max(1, total // max(1, n_arms))


def train_arms_in_parallel(config: SRDConfig, run_dir: Path, labels: Sequence[str]) -> dict[str, float]:
    """Train every arm in ``labels`` in its own process at once; returns each arm's wall seconds."""
    run_dir = Path(run_dir)
    config_path = run_dir / ARMS_CONFIG_FILE
    write_json_atomic(config_path, config.model_dump(mode="json"))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads_per_arm(len(labels))), "TQDM_DISABLE": "1"}
    children = {}
    progress = ArmProgress(run_dir, labels)
    for label in labels:
        cmd = [sys.executable, "-m", "srd_core.pipeline.arms", str(config_path), str(run_dir), label]
        proc = subprocess.Popen(
            cmd,
            env=env,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert proc.stdout is not None  # stdout=PIPE
        progress.forward(proc.stdout)
        children[label] = (proc, time.perf_counter())
    seconds: dict[str, float] = {}
    failures: list[str] = []
    try:
        while len(seconds) < len(children):
            for label, (proc, started) in children.items():
                code = proc.poll()
                if code is None or label in seconds:
                    continue
                seconds[label] = round(time.perf_counter() - started, 3)
                progress.done(label, seconds[label])
                if code != 0:
                    failures.append(f"{label} (exit code {code})")
            progress.tick()
            time.sleep(0.2)
    except (KeyboardInterrupt, Terminated) as exc:
        signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        raise _stop_arms(run_dir, {label: proc for label, (proc, _) in children.items()}, signum) from None
    finally:
        for proc, _ in children.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        progress.close()
        config_path.unlink(missing_ok=True)
    if failures:
        raise TrainingError(
            f"{run_dir}: training the arms in parallel failed: {', '.join(failures)}; its error is in the output above"
        )
    return seconds


def _die_with_parent() -> None:
    """In the child: SIGTERM when the parent dies (Linux), so no arm trains on orphaned (a session of its own,
    the child gets no Ctrl-C from the terminal)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop_arms(run_dir: Path, children: dict[str, subprocess.Popen], signum: int) -> Interrupted:
    """SIGTERM to every arm still training, the wait for them, and the one line of the stop: the step each
    interrupted arm resumes from (its newest checkpoint)."""
    from srd_core.training.checkpoint import latest_checkpoint, read_state  # deferred: torch

    for proc in children.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # before its handlers are in, SIGTERM ends a child quietly
    resumes = []
    for label, proc in children.items():
        if proc.wait() != 0:
            latest = latest_checkpoint(Path(run_dir) / label / CHECKPOINTS_DIR)
            resumes.append(f"{label} from step {read_state(latest).step if latest is not None else 0}")
    phases = " and ".join(f"train_{label}" for label in children)
    where = f" ({', '.join(resumes)})" if resumes else ""
    return Interrupted(f"interrupted in {phases}; rerun the same command to resume{where}", signum)


def _train_one(config_json: str, run_dir: str, label: str) -> None:
    """One arm in this process: ``train`` with held-out evaluations every ``train.eval_every`` steps."""
    import torch  # deferred: torch

    from srd_core.training.loop import rouge_eval_fn, train  # deferred: torch

    # srd's own lines (resuming, evaluations, warnings) with the arm's name; library chatter (a tokenizer's
    # notices) only with `srd -v`, as in the parent
    verbose = os.environ.get("SRD_VERBOSE") == "1"
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format=f"%(asctime)s {label} %(message)s")
    logging.getLogger("srd_core").setLevel(logging.INFO)
    log = logging.getLogger("srd_core.arms")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    config = config_from_dict(json.loads(Path(config_json).read_text(encoding="utf-8")))
    eval_fn = None
    if config.train.eval_every:
        evaluate = rouge_eval_fn(config, run_dir)

        def eval_fn(model, step: int) -> dict:
            row = evaluate(model, step)
            log.info("step %d: held-out ROUGE-L %.1f", step, row["rouge_l"])
            return row

    train(config, run_dir, label, samples=load_samples(config, "train"), eval_fn=eval_fn)


if __name__ == "__main__":
    from srd_core.signals import stop_on_signals

    _die_with_parent()
    stop_on_signals()
    try:
        _train_one(*sys.argv[1:4])
    except (Interrupted, KeyboardInterrupt, Terminated) as exc:  # the parent prints the one line for all arms
        sys.exit(exc.exit_code if isinstance(exc, Interrupted) else 143 if isinstance(exc, Terminated) else 130)
