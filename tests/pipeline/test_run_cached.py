"""`srd run` with a cached teacher signal: the teacher_cache phase runs once, both arms share its cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from test_run_e2e import tiny_demo

SRD = str(Path(sys.executable).parent / "srd")


def test_srd_run_builds_one_shared_cache_and_skips_it_when_rerun(tmp_path):
    path = tiny_demo(tmp_path)
    config = yaml.safe_load(path.read_text())
    for section in ("train", "baseline"):
        config[section]["teacher_signal"] = {"name": "topk", "k": 16}
    config["train"]["eval_every"] = 0
    config["report"] = {"enabled": False}
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "TQDM_DISABLE": "1"}
    dry = subprocess.run([SRD, "run", "--dry-run", str(path)], capture_output=True, text=True, env=env, timeout=300)
    assert dry.returncode == 0 and "teacher cache" in dry.stdout, dry.stdout + dry.stderr[-2000:]
    first = subprocess.run([SRD, "run", str(path)], capture_output=True, text=True, env=env, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "bytes per response token" in first.stdout and "  teacher_cache: " in first.stdout
    run_dir = tmp_path / "tiny"
    (cache,) = (run_dir / "teacher_cache").iterdir()
    meta = json.loads((cache / "meta.json").read_text())
    assert len(meta["rows"]) == 48 and meta["temperatures"] == [1.0, 1.5, 2.0]  # baseline: all samples at T=1
    timings = json.loads((run_dir / "timings.json").read_text())
    assert timings["teacher_cache"] > 0 and {"train_srd", "train_baseline"} <= set(timings)
    before = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    second = subprocess.run([SRD, "run", str(path)], capture_output=True, text=True, env=env, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "  teacher_cache: skipped (complete)" in second.stdout
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == before
