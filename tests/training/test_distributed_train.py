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
    two_processes = subprocess.Popen(
        [*torchrun, str(WORKER), str(two)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
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


@pytest.mark.slow
def test_two_processes_select_the_same_best_checkpoints_as_one(tmp_path):
    """select_best under torchrun: rank 0 scores the dev split, every rank restores the same weights."""
    import json

    import torch
    from safetensors.torch import load_file
    from tiny_run import write_curation

    ws = make_workspace(tmp_path)
    train_spec = {
        "name": "jsonl",
        "train": str(ws / "train.jsonl"),
        "id_field": "id",
        "template": "{instruction}",
        "dev_size": 4,
    }
    eval_spec = {"name": "jsonl", "eval": str(ws / "train.jsonl"), "id_field": "id", "template": "{instruction}"}
    sections = {
        "data": {"train": train_spec, "eval": eval_spec},
        "curriculum": {"pacer": {"name": "baby_step", "num_bins": 3, "epochs_per_stage": 3}},
    }
    select = {"select_best": {"enabled": True, "max_samples": 4}, "eval_every": 0}
    one = write_config(ws, "one", **sections, train={"batch_size": 4, **select})
    two = write_config(ws, "two", **sections, train={"batch_size": 2, **select})
    ids = [f"s{i}" for i in range(4, 24)]
    for name in ("one", "two"):
        write_curation(ws / name, ids)
    env = {**os.environ, **ENV}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    dumps = tmp_path / "dumps"
    two_processes = subprocess.Popen(
        [*torchrun, str(WORKER), str(two), "--dump-weights", str(dumps)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    train(load_config(one), ws / "one", "srd")
    out, _ = two_processes.communicate(timeout=300)
    assert two_processes.returncode == 0, out

    single = read_rows(ws / "one" / "srd" / "dev_eval.jsonl")
    double = read_rows(ws / "two" / "srd" / "dev_eval.jsonl")  # rank 0 only: one row per point
    assert [(r["stage"], r["step"]) for r in double] == [(r["stage"], r["step"]) for r in single]
    assert [r["rouge_l"] for r in double] == pytest.approx([r["rouge_l"] for r in single], abs=1e-6)
    chosen = {name: json.loads((ws / name / "srd" / "best_checkpoints.json").read_text()) for name in ("one", "two")}
    assert {k: v["step"] for k, v in chosen["two"].items()} == {k: v["step"] for k, v in chosen["one"].items()}
    assert any(v["step"] != v["last_step"] for v in chosen["two"].values())  # some stage restored earlier weights
    for stage in (1, 2):  # both ranks start each later stage from the same (restored) weights
        rank0 = load_file(dumps / f"rank0-stage{stage}.safetensors")
        rank1 = load_file(dumps / f"rank1-stage{stage}.safetensors")
        assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
