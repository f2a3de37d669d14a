"""A tiny finished `srd run` to copy, edit and rerun: jsonl data files, micro presets, a few steps.

A workspace holds ``data/{train,eval}.jsonl``, ``runs/base/`` and its config, all paths relative to
the workspace: a copy of the workspace is the same run with its own data files, so a test can edit
one input (a config field, the bytes of a data file) and see what the rerun does about it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from paths import EXAMPLES

from srd_core.plugins import get_component

SRD = str(Path(sys.executable).parent / "srd")
ENV = {**os.environ, "TQDM_DISABLE": "1", "COLUMNS": "400", "OMP_NUM_THREADS": "1"}
N_TRAIN, N_EVAL = 48, 12


def write_data(root: Path) -> None:
    """data/train.jsonl and data/eval.jsonl drawn from the synthetic task."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    task = get_component("task", "synthetic", n_train=N_TRAIN, n_eval=N_EVAL, noise=0.25, seed=0)
    for split in ("train", "eval"):
        with open(root / "data" / f"{split}.jsonl", "w", encoding="utf-8") as fh:
            for s in task.load(split):
                fh.write(
                    json.dumps(
                        {"id": s.id, "prompt": s.prompt, "output": s.references[0], "family": s.meta.get("family")}
                    )
                    + "\n"
                )


def base_config() -> dict[str, Any]:
    """examples/demo.yaml shrunk to seconds, reading data/{train,eval}.jsonl (paths relative to the workspace)."""
    config = yaml.safe_load((EXAMPLES / "demo.yaml").read_text())
    config.pop("arms", None)  # the two default arms (srd, baseline): these tests follow their phases by name
    config["run"] = {"name": "base", "output_dir": "runs", "seed": 0}
    config["teacher"] = {"preset": "micro-teacher"}
    config["student"] = {"preset": "micro-student"}
    config["data"] = {
        "train": {
            "name": "jsonl",
            "train": "data/train.jsonl",
            "eval": "data/eval.jsonl",
            "prompt_field": "prompt",
            "id_field": "id",
            "meta_fields": ["family"],
        },
        "max_prompt_tokens": 96,
        "max_length": 128,
    }
    config["prepare"] = {
        "vocab_size": 300,
        "teacher_sft": {"steps": 20, "batch_size": 16, "lr": 3e-3},
        "student_sft": {"steps": 3, "batch_size": 16, "lr": 3e-3},
    }
    config["reflection"] = {"batch_size": 16, "max_new_tokens": 8}
    config["train"].update(batch_size=8, lr=1e-3, eval_every=0, log_every=1, checkpoint_every=0)
    config["curriculum"]["pacer"]["epochs_per_stage"] = 1  # the dependency tests want few, equal steps per arm
    config["baseline"].update(pacer={"name": "all", "epochs": 1}, match_srd_steps=True)
    config["eval"] = {"protocol": "greedy", "max_new_tokens": 8, "batch_size": 16}
    return config


def write_config(workspace: Path, config: dict[str, Any], name: str = "config.yaml") -> Path:
    path = workspace / name
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def srd(workspace: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """One `srd` command in a real process, run in ``workspace``; stdout and stderr together."""
    return subprocess.run(
        [SRD, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
        timeout=timeout,
        cwd=workspace,
    )


def make_base(workspace: Path) -> Path:
    """A workspace with data files and one finished `srd run` in runs/base; returns the workspace."""
    workspace.mkdir(parents=True)
    write_data(workspace)
    write_config(workspace, base_config())
    done = srd(workspace, "run", "config.yaml")
    assert done.returncode == 0, done.stdout[-3000:]
    return workspace


def copy_workspace(source: Path, target: Path) -> Path:
    """A copy of a workspace (timestamps kept, as after a `cp -a`): the same run with its own files."""
    shutil.copytree(source, target, symlinks=True)
    return target


def edited(workspace: Path, **changes: Any) -> Path:
    """Write config.yaml of ``workspace`` with dotted-path ``changes`` (``train__lr=0.05``) applied."""
    config = base_config()
    for key, value in changes.items():
        node = config
        parts = key.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return write_config(workspace, config)


def tree_hash(path: Path) -> str | None:
    """SHA-256 over every file under ``path`` (None if missing)."""
    if not path.exists():
        return None
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


MODELS = {
    "teacher": "prepared/teacher",
    "student": "prepared/student",
    "srd": "srd/final",
    "baseline": "baseline/final",
    "curation": "curation.jsonl",
    "reflection": "reflection.jsonl",
}


def hashes(run_dir: Path) -> dict[str, str | None]:
    """Content hashes of the run's models and data artifacts."""
    return {name: tree_hash(run_dir / rel) for name, rel in MODELS.items()}


def eval_rows(run_dir: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in (run_dir / "eval.jsonl").read_text().splitlines() if line.strip()]
    return {r["model"]: r for r in rows}


def phase_lines(stdout: str) -> dict[str, str]:
    """`srd run`'s summary: phase → "skipped (complete)" or seconds."""
    out = {}
    for line in stdout.splitlines():
        key, _, value = line.strip().partition(": ")
        if key in ("prepare", "reflect", "curate", "train_srd", "train_baseline", "evaluate", "report"):
            out[key] = "skipped" if "skipped" in value else "ran"
    return out
