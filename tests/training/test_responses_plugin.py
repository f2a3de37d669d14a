"""A third-party response source, pip-installed and found through its entry point, trains in one and in two
processes (torchrun, gloo on CPU; each process generates its share of the global batch) to the same losses."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from paths import TESTS, TRAIN_WORKER
from plugin_install import pip_install_to
from tiny_run import make_workspace, read_rows, write_config

ENV = {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "SRD_LOAD_PLUGINS": "srd-response-fixture"}


@pytest.mark.slow
def test_third_party_source_in_one_and_two_processes(tmp_path):
    site = pip_install_to(tmp_path / "site", TESTS / "plugins" / "srd-response-fixture")
    ws = make_workspace(tmp_path / "ws")
    responses = {"name": "fixture_every_nth", "every": 2, "max_new_tokens": 6}
    data = {"limit_train": 22}  # 6 steps of 4 samples, the last one partial
    one = write_config(ws, "one", data=data, train={"batch_size": 4, "responses": responses})
    two = write_config(ws, "two", data=data, train={"batch_size": 2, "responses": responses})
    env = {**os.environ, **ENV, "PYTHONPATH": str(site)}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    runs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for cmd in ([*torchrun, str(TRAIN_WORKER), str(two)], [sys.executable, str(TRAIN_WORKER), str(one)])
    ]
    for run in runs:
        out, _ = run.communicate(timeout=400)
        assert run.returncode == 0, out

    single = read_rows(ws / "one" / "srd" / "metrics.jsonl")
    double = read_rows(ws / "two" / "srd" / "metrics.jsonl")  # written by rank 0 only
    assert [r["response_source"] for r in double] == ["generated", "ground_truth"] * 3
    assert [r["response_source"] for r in single] == ["generated", "ground_truth"] * 3
    # top-1 sampling does not depend on the random stream: the gathered shares are the one-process batch
    assert [r["generated_tokens"] for r in double] == [r["generated_tokens"] for r in single]
    assert [r["tokens"] for r in double] == [r["tokens"] for r in single]
    for field in ("loss", "ce", "kd"):
        assert [r[field] for r in double] == pytest.approx([r[field] for r in single], rel=1e-4, abs=1e-6)
