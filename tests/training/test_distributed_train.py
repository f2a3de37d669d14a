"""Two processes (torchrun, gloo on CPU) train like one process with the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from paths import TRAIN_WORKER
from tiny_run import make_workspace, read_rows, write_config

from srd_core.config import load_config
from srd_core.training.checkpoint import latest_checkpoint
from srd_core.training.loop import train

WORKER = TRAIN_WORKER
ENV = {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "SRD_LOAD_PLUGINS": ""}


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    ws = make_workspace(tmp_path)
    data = {"limit_train": 22}  # 6 steps of 4 samples, the last one partial (2 samples: one per rank)
    one = write_config(ws, "one", data=data, train={"batch_size": 4})
    two = write_config(ws, "two", data=data, train={"batch_size": 2})
    env = {**os.environ, **ENV}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    two_processes = subprocess.Popen([*torchrun, str(WORKER), str(two)], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
    train(load_config(one), ws / "one", "srd")  # meanwhile, the 1-process reference here
    out, _ = two_processes.communicate(timeout=300)
    assert two_processes.returncode == 0, out

    single = read_rows(ws / "one" / "srd" / "metrics.jsonl")
    double = read_rows(ws / "two" / "srd" / "metrics.jsonl")  # written by rank 0 only
    assert [r["step"] for r in double] == list(range(1, 7))
    for field in ("loss", "ce", "kd", "lr"):
        assert [r[field] for r in double] == pytest.approx([r[field] for r in single], rel=1e-4, abs=1e-6)
    assert [r["tokens"] for r in double] == [r["tokens"] for r in single]
    checkpoint = latest_checkpoint(ws / "two" / "srd" / "checkpoints")
    assert (checkpoint / "rng-0.pt").is_file() and (checkpoint / "rng-1.pt").is_file()
