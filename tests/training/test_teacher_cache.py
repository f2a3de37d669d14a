"""The teacher signal cache on tiny real models: full equals online, the teacher is not loaded, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from tiny_run import make_config, make_workspace, read_rows, write_config, write_curation

from srd_core.config import load_config
from srd_core.data.samples import load_samples
from srd_core.errors import ConfigError
from srd_core.models import runtime
from srd_core.training.loop import train
from srd_core.training.teacher_cache import (
    META_FILE,
    TeacherCache,
    build_signal,
    build_teacher_caches,
    cache_requests,
)

IDS = [f"s{i}" for i in range(24)]
NAMES = ["fkl", "rkl", "skl", "srkl", "jsd", "tvd", "akl"]
WORKER = Path(__file__).resolve().parent.parent / "cache_worker.py"
BABY_STEP = {"pacer": {"name": "baby_step", "num_bins": 3, "epochs_per_stage": 1}}
STAGEWISE = {
    "temperature": {"name": "stagewise", "values": [1.0, 1.5, 2.0]},
    "sft_weight": {"name": "stagewise", "values": [0.3, 0.2, 0.1]},
}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("ws"))


def _config(ws, name, signal_spec, loss="fkl", **train):
    write_curation(ws / name, IDS)
    return make_config(
        ws, name, curriculum=BABY_STEP, train={**STAGEWISE, "kd_loss": loss, "teacher_signal": signal_spec, **train}
    )


@pytest.mark.parametrize("loss", NAMES)
def test_full_cache_equals_online_on_every_step_and_the_final_weights(ws, loss):
    summaries, rows, weights = {}, {}, {}
    # The cache runs the teacher on other batches than training does (another padding), so its logits
    # differ from online ones by float rounding (~1e-7); AdamW's normalised step can turn that into up to
    # lr per step on weights whose gradient is ~0 (rare tokens): at lr 1e-3 every weight agrees within 1e-5.
    for signal_spec in ("online", "full"):
        cfg = _config(ws, f"{loss}-{signal_spec}", {"name": signal_spec}, loss, lr=1e-3)
        summaries[signal_spec] = train(cfg, cfg.run.dir, "srd")
        rows[signal_spec] = read_rows(cfg.run.dir / "srd" / "metrics.jsonl")
        weights[signal_spec] = load_file(cfg.run.dir / "srd" / "final" / "model.safetensors")
    assert summaries["full"].steps == summaries["online"].steps == 10 and len(rows["full"]) == 10
    assert [r["T"] for r in rows["full"]] == [1.0] * 2 + [1.5] * 3 + [2.0] * 5
    for a, b in zip(rows["full"], rows["online"], strict=True):
        for field in ("loss", "ce", "kd"):
            assert a[field] == pytest.approx(b[field], rel=1e-5, abs=1e-7)
    for key, value in weights["online"].items():
        torch.testing.assert_close(weights["full"][key], value, rtol=1e-5, atol=1e-5)
    assert (ws / f"{loss}-full" / "teacher_cache").is_dir() and not (ws / f"{loss}-online" / "teacher_cache").exists()


def test_a_cached_run_does_not_load_the_teacher_and_topk_trains(ws, monkeypatch):
    cfg = _config(ws, "topk-noload", {"name": "topk", "k": 8})
    samples = load_samples(cfg, "train")
    (result,) = build_teacher_caches(cfg, cfg.run.dir, samples)
    assert result.built_shards == 5 and result.response_tokens > 0  # the 18 kept samples in shards of 4
    meta = TeacherCache(result.directory, build_signal(cfg, "srd")).meta
    assert sorted(meta["rows"]) == sorted(IDS[:18]) and meta["temperatures"] == [1.0, 1.5, 2.0]
    # 8 fp32 values + 8 int16 indices + 3 fp32 tail log-sum-exps per response token
    assert meta["payload_bytes_per_token"] == 8 * 4 + 8 * 2 + 3 * 4 < result.bytes_per_token  # + .npy headers
    loaded = []
    original = runtime.load_causal_lm
    monkeypatch.setattr(runtime, "load_causal_lm", lambda c, n, role: loaded.append(role) or original(c, n, role))
    summary = train(cfg, cfg.run.dir, "srd")
    assert loaded == ["student"] and summary.steps == 10
    again = build_teacher_caches(cfg, cfg.run.dir, samples)[0]
    assert again.built_shards == 0 and again.directory == result.directory


def test_srd_and_baseline_share_one_cache_of_every_sample_either_trains_on(ws):
    write_curation(ws / "shared", IDS)
    cfg = make_config(
        ws,
        "shared",
        curriculum=BABY_STEP,
        train={**STAGEWISE, "teacher_signal": {"name": "topk", "k": 4}},
        baseline={"teacher_signal": {"name": "topk", "k": 4}, "temperature": {"name": "constant", "value": 3.0}},
    )
    (request,) = cache_requests(cfg, cfg.run.dir, load_samples(cfg, "train"), 1)
    assert request.ids == IDS and request.temperatures == [1.0, 1.5, 2.0, 3.0]


def test_bad_k_names_the_field(ws):
    cfg = _config(ws, "bad-k", {"name": "topk", "k": 5000})
    with pytest.raises(ConfigError, match=r"train\.teacher_signal\.k: 5000 must be below the vocabulary size"):
        build_teacher_caches(cfg, cfg.run.dir, load_samples(cfg, "train"))


def _worker(config: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "SRD_LOAD_PLUGINS": ""}
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(config), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_kill_9_during_the_build_then_rerun_gives_a_byte_identical_cache(ws, tmp_path):
    configs = {}
    for name in ("whole", "killed"):
        write_curation(ws / name, IDS)
        configs[name] = write_config(
            ws, name, curriculum=BABY_STEP, train={**STAGEWISE, "teacher_signal": {"name": "topk", "k": 8}}
        )
    marker = tmp_path / "paused"
    killed = _worker(configs["killed"], "--pause-after", "1", str(marker))
    whole = load_config(configs["whole"])
    (reference,) = build_teacher_caches(whole, whole.run.dir, load_samples(whole, "train"))
    deadline = time.time() + 120
    while not marker.exists():
        assert killed.poll() is None, killed.communicate()[0]
        assert time.time() < deadline, "the build never reached the pause"
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    directory = ws / "killed" / "teacher_cache" / reference.directory.name
    assert not (directory / META_FILE).exists() and (directory / "shard-00001.tail.npy").is_file()
    assert not (directory / "shard-00002.values.npy").exists()
    (directory / ".shard-00002.values.npy.x1y2.tmp").write_bytes(b"\x93NUMPY torn")  # as a kill mid-write leaves

    rerun = _worker(configs["killed"])
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out
    assert "built=3 reused=2" in out
    assert _files(directory) == _files(reference.directory)
    values = np.load(directory / "shard-00000.values.npy", mmap_mode="r")
    assert values.shape[1] == 8 and np.isfinite(values).all()


@pytest.mark.slow
def test_two_processes_build_the_same_cache_as_one(ws):
    configs = {}
    for name in ("one-process", "two-processes"):
        write_curation(ws / name, IDS)
        configs[name] = write_config(
            ws, name, curriculum=BABY_STEP, train={**STAGEWISE, "teacher_signal": {"name": "full"}}
        )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "SRD_LOAD_PLUGINS": ""}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    two = subprocess.Popen(
        [*torchrun, str(WORKER), str(configs["two-processes"]), "--accelerate"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    one = load_config(configs["one-process"])
    (reference,) = build_teacher_caches(one, one.run.dir, load_samples(one, "train"))
    out, _ = two.communicate(timeout=300)
    assert two.returncode == 0, out
    assert "built=3 reused=0" in out and "built=2 reused=0" in out  # shards 0, 2, 4 and 1, 3
    assert _files(ws / "two-processes" / "teacher_cache" / reference.directory.name) == _files(reference.directory)
