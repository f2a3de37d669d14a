"""A micro experiment: examples/demo.yaml shrunk through overrides (micro models, 48 samples, a few steps)."""

from __future__ import annotations

from pathlib import Path

import yaml
from paths import EXAMPLES

MICRO_OVERRIDES = [
    "teacher={preset: micro-teacher}",
    "student={preset: micro-student}",
    "data.train={name: synthetic, n_train: 48, n_eval: 12, seed: 0, noise: 0.25, families: [count, date]}",
    "data.max_prompt_tokens=96",
    "data.max_length=128",
    "data.limit_train=null",
    "data.limit_eval=null",
    "prepare={vocab_size: 300, seed: 0, teacher_sft: {steps: 8, batch_size: 16, lr: 3.0e-3},"
    " student_sft: {steps: 2, batch_size: 16, lr: 3.0e-3}}",
    "reflection={batch_size: 16, max_new_tokens: 8}",
    "curriculum.selector={name: fixed_ratio, ratio: 0.75}",
    "curriculum.pacer={name: baby_step, num_bins: 3}",
    "train.batch_size=8",
    "train.grad_accum=1",
    "train.eval_every=5",
    "train.log_every=1",
    "train.checkpoint_every=2",
    "train.max_steps=null",
    "baseline={enabled: true, pacer: all, temperature: {name: constant, value: 1.0},"
    " sft_weight: {name: constant, value: 0.2}, match_srd_steps: true}",
    "eval={protocol: greedy, max_new_tokens: 8, batch_size: 16}",
    "report.enabled=false",
]


def write_micro_experiment(root: Path, name: str = "micro", seeds=(0, 1), variants=None, **extra) -> Path:
    """An experiment file under ``root`` whose runs go to ``root/experiments/<name>``."""
    spec = {
        "name": name,
        "output_dir": str(root / "experiments"),
        "base": str(EXAMPLES / "demo.yaml"),
        "overrides": MICRO_OVERRIDES,
        "seeds": list(seeds),
        "variants": variants or {"lambda-0.75": [], "lambda-0.5": ["curriculum.selector.ratio=0.5"]},
        **extra,
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path
