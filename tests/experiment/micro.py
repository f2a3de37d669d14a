"""A micro experiment: examples/demo.yaml shrunk through overrides (the shipped teacher, a micro student, 48
samples, a few steps): the students score a few ROUGE-L points that differ by seed, so the intervals exist."""

from __future__ import annotations

from pathlib import Path

import yaml
from paths import EXAMPLES, REPO

MICRO_OVERRIDES = [
    f"teacher={{path: {REPO / 'srd_core' / 'assets' / 'demo-teacher'}}}",  # the shipped teacher: it scores
    "student={preset: micro-student}",  # 90 here, so the students learn
    "data.train={name: synthetic, n_train: 48, n_eval: 12, seed: 0, noise: 0.25, families: [date, name_format],"
    " n_words: 20}",
    "data.max_prompt_tokens=96",
    "data.max_length=128",
    "data.limit_train=null",
    "data.limit_eval=null",
    "prepare={seed: 0, student_sft: {steps: 150, batch_size: 16, lr: 5.0e-3}}",
    "reflection={batch_size: 16, max_new_tokens: 8}",
    "curriculum.selector={name: fixed_ratio, ratio: 0.75}",
    "curriculum.pacer={name: baby_step, num_bins: 3, epochs_per_stage: 2}",
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
    "arms=null",  # the two default arms (srd, baseline), as the assertions on these rows expect
    "run.parallel_arms=false",  # arms one after another in the run's process: no two extra interpreters per run
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
