"""Train one preset model of a config by SFT and print its per-family held-out ROUGE-L as it learns.

A fast probe for tuning the embedded default (task families, sizes, steps, lr) without a full run:

    OMP_NUM_THREADS=1 .venv/bin/python scripts/probe_preset.py examples/demo.yaml --role teacher \
        --every 100 --eval 120 --set prepare.teacher_sft.steps=600

Prints one line per evaluation: step, wall and CPU seconds, overall and per-family ROUGE-L ×100.
"""

from __future__ import annotations

import argparse
import time

import torch

from srd_core.config import load_config
from srd_core.data.samples import load_samples
from srd_core.data.tokenizer_training import train_bpe_tokenizer
from srd_core.evaluation.evaluate import evaluate_model
from srd_core.models.prepare import _preset_of, _seed, sft
from srd_core.models.presets import build_model, count_parameters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--role", choices=["teacher", "student"], default="teacher")
    parser.add_argument("--every", type=int, default=100, help="Evaluate every N steps.")
    parser.add_argument("--eval", type=int, default=120, help="Held-out samples per evaluation.")
    parser.add_argument("--show", type=int, default=0, help="Print the last evaluation's first N answers.")
    parser.add_argument("--set", action="append", default=[], help="Config override KEY.PATH=VALUE.")
    args = parser.parse_args()
    config = load_config(args.config, args.set)
    samples = load_samples(config, "train")
    eval_samples = load_samples(config, "eval")[: args.eval]
    tokenizer = train_bpe_tokenizer(
        [s.prompt + s.target for s in samples],
        vocab_size=config.prepare.vocab_size,
        model_max_length=config.data.max_length,
    )
    model = build_model(_preset_of(config, args.role), tokenizer, seed=_seed(config))
    sft_cfg = getattr(config.prepare, f"{args.role}_sft")
    print(f"{args.role}: {count_parameters(model):,} params, vocab {len(tokenizer)}, {sft_cfg}", flush=True)
    start, cpu = time.perf_counter(), time.process_time()

    def report(step: int) -> None:
        if step % args.every and step != sft_cfg.steps:
            return
        with torch.no_grad():
            result = evaluate_model(model, tokenizer, eval_samples, config.eval, config.data.max_prompt_tokens)
        families = " ".join(f"{k}={v:.1f}" for k, v in result.per_family.items())
        if step == sft_cfg.steps:
            for sample, pred in list(zip(eval_samples, result.predictions, strict=True))[: args.show]:
                print(f"  {sample.meta.get('family')}: {pred!r} (reference {sample.target!r})")
        print(
            f"step {step:5d}  wall {time.perf_counter() - start:6.1f}s  cpu {time.process_time() - cpu:6.1f}s  "
            f"rouge_l {result.score:5.1f}  {families}",
            flush=True,
        )

    sft(
        model,
        tokenizer,
        samples,
        sft_cfg,
        config.data.max_prompt_tokens,
        config.data.max_length,
        seed=_seed(config),
        on_step=report,
    )


if __name__ == "__main__":
    main()
