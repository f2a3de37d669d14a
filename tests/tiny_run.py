"""A tiny distillation workspace for training tests: tokenizer, teacher, student, samples, config."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import yaml
from tiny import save_pair, tiny_llama, train_tokenizer

from srd_core.config import config_from_dict
from srd_core.types import CurationRecord, Sample

WORDS = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"]


def make_samples(n: int = 24, seed: int = 0) -> list[Sample]:
    """``n`` word-reversal samples with ids s0..s{n-1}."""
    rng = random.Random(seed)
    samples = []
    for i in range(n):
        words = rng.sample(WORDS, rng.randint(2, 5))
        samples.append(
            Sample(
                id=f"s{i}", prompt="reverse: " + " ".join(words) + "\nanswer:", references=[" ".join(reversed(words))]
            )
        )
    return samples


def make_workspace(root: Path, n_samples: int = 24) -> Path:
    """Write teacher/, student/ (tiny Llamas sharing a BPE tokenizer) and train.jsonl under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    samples = make_samples(n_samples)
    tokenizer = train_tokenizer([s.prompt + " " + s.target for s in samples], 300)
    save_pair(root / "teacher", tiny_llama(len(tokenizer), 32, 2, 2, seed=1, tokenizer=tokenizer), tokenizer)
    save_pair(root / "student", tiny_llama(len(tokenizer), 16, 1, 2, seed=2, tokenizer=tokenizer), tokenizer)
    with open(root / "train.jsonl", "w", encoding="utf-8") as fh:
        for s in samples:
            fh.write(json.dumps({"id": s.id, "instruction": s.prompt, "output": s.target}) + "\n")
    return root


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``, section by section; a component spec (has ``name``) replaces the old one."""
    out = dict(base)
    for key, value in extra.items():
        nested = isinstance(value, dict) and "name" not in value and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if nested else value
    return out


def jsonl_task(root: Path, with_eval: bool = False) -> dict[str, Any]:
    """The workspace's train.jsonl as a task spec; ``with_eval``: with the same file as its eval split."""
    task = {"name": "jsonl", "train": str(root / "train.jsonl"), "id_field": "id", "template": "{instruction}"}
    return {**task, "eval": str(root / "train.jsonl")} if with_eval else task


def dev_split_data(root: Path) -> dict[str, Any]:
    """``data`` with a final eval set apart from the training task, so training's eval split is a dev split."""
    return {"train": jsonl_task(root, True), "max_prompt_tokens": 40, "max_length": 64, "eval": jsonl_task(root, True)}


def raw_config(root: Path, name: str = "run", **sections: dict[str, Any]) -> dict[str, Any]:
    """A config mapping for the workspace; ``sections`` are merged over the defaults."""
    base = {
        "run": {"name": name, "output_dir": str(root)},
        "teacher": {"path": str(root / "teacher")},
        "student": {"path": str(root / "student")},
        "data": {
            "train": jsonl_task(root),
            "max_prompt_tokens": 40,
            "max_length": 64,
        },
        "curriculum": {"pacer": {"name": "all", "epochs": 1}},
        "train": {
            "lr": 1e-2,
            "batch_size": 4,
            "log_every": 1,
            "temperature": {"name": "constant", "value": 1.0},
            "sft_weight": {"name": "constant", "value": 0.3},
        },
    }
    return _merge(base, sections)


def make_config(root: Path, name: str = "run", **sections: dict[str, Any]):
    """The validated ``SRDConfig`` of ``raw_config``."""
    return config_from_dict(raw_config(root, name, **sections))


def write_config(root: Path, name: str = "run", **sections: dict[str, Any]) -> Path:
    """``raw_config`` as a YAML file; returns its path."""
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw_config(root, name, **sections)), encoding="utf-8")
    return path


def write_curation(run_dir: Path, ids: list[str], n_bins: int = 3) -> None:
    """A curation.jsonl that keeps the first 3/4 of ``ids`` in ``n_bins`` equal bins (data order = rank)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    kept = len(ids) * 3 // 4
    size = kept // n_bins
    rows = []
    for rank, sample_id in enumerate(ids, start=1):
        b = (rank - 1) // size if rank <= size * n_bins else None
        rows.append(
            CurationRecord(
                id=sample_id,
                values={"m": float(rank)},
                ranks={"m": rank},
                fused=-rank,
                rank=rank,
                kept=b is not None,
                bin=b,
            ).to_dict()
        )
    with open(run_dir / "curation.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """JSON lines of a file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
