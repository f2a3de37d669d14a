"""On-policy distillation throughput: srd's ``on_policy`` source vs. TRL's GKDTrainer with ``lmbda=1``.

Both train the same student (hidden 128, 3 layers, 2.6M params) from the same teacher (hidden 256,
6 layers, 8.1M params), vocab 8192, on the same prompts (those of benchmarks/kd_throughput.py) with
the same batch size: every step the student samples a response of at most ``--max-new-tokens``
tokens (T = 1, top-p 1, no top-k, KV cache) and is trained on the generalized JSD (β = 0.5) of the
teacher on those tokens, SFT weight 0, AdamW, fp32 on CPU. The two run alternately in one process,
``--rounds`` times each; round 0 is a warm-up and is not counted.

Every optimizer step is timed from the end of the previous one (generation included). Training
tokens are the non-padding tokens of the sequences the loss is computed on (prompt + generated
response), counted by each framework: srd's summary, and the attention mask TRL builds after
generating. Printed: tokens/s per wall-clock second and per CPU second of the process (steadier on
a shared machine), generated tokens per step, and the ratio srd / TRL.

    .venv/bin/python benchmarks/on_policy_throughput.py [--steps 4] [--rounds 2] [--batch 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from kd_throughput import VOCAB, Timing, _TrainerTimer, make_llama, make_samples, make_tokenizer, now

from srd_core import plugins
from srd_core.config import config_from_dict
from srd_core.hookspecs import hookimpl
from srd_core.training.loop import train
from srd_core.types import Sample


def srd_config(root: Path, name: str, batch: int, max_new_tokens: int):
    return config_from_dict(
        {
            "run": {"name": name, "output_dir": str(root)},
            "teacher": {"path": str(root / "teacher")},
            "student": {"path": str(root / "student")},
            "data": {"train": {"name": "jsonl", "train": str(root / "unused.jsonl")}, "max_length": 512},
            "curriculum": {"pacer": {"name": "all", "epochs": 1}},
            "train": {
                "kd_loss": {"name": "jsd", "beta": 0.5},
                "temperature": {"name": "constant", "value": 1.0},
                "sft_weight": {"name": "constant", "value": 0.0},
                "lr": 1e-4,
                "batch_size": batch,
                "lr_scheduler": "linear",
                "max_grad_norm": 1.0,
                "responses": {"name": "on_policy", "lmbda": 1.0, "temperature": 1.0, "max_new_tokens": max_new_tokens},
            },
        }
    )


class _SrdTimer:
    """srd notify-hook: time every optimizer step from the end of the previous one."""

    def __init__(self) -> None:
        self.timing, self.resumed, self.generated = Timing(0), now(), 0

    @hookimpl
    def stage_start(self, context):
        self.resumed = now()

    @hookimpl
    def step_end(self, context, metrics):
        self.timing.add(self.resumed, now())
        self.generated += metrics["generated_tokens"]
        self.resumed = now()


def run_srd(root: Path, name: str, samples: list[Sample], batch: int, max_new_tokens: int) -> tuple[Timing, int]:
    """srd's loop with ``on_policy`` over the samples (one epoch): (timing, generated tokens)."""
    timer = _SrdTimer()
    plugins.register(timer, name="on-policy-timer")
    try:
        summary = train(srd_config(root, name, batch, max_new_tokens), root / name, "srd", samples=samples)
    finally:
        plugins.unregister("on-policy-timer")
    timer.timing.tokens = summary.tokens
    return timer.timing, timer.generated


def run_trl(
    root: Path, name: str, samples: list[Sample], batch: int, max_new_tokens: int, tokenizer
) -> tuple[Timing, int]:
    """TRL's GKDTrainer (lmbda=1, beta=0.5, T=1, fp32) over the samples (one epoch), timed like ``run_srd``."""
    from datasets import Dataset
    from transformers import LlamaForCausalLM
    from trl.experimental.gkd import GKDConfig, GKDTrainer
    from trl.experimental.utils import DataCollatorForChatML

    dataset = Dataset.from_list(
        [
            {"messages": [{"role": "user", "content": s.prompt}, {"role": "assistant", "content": s.target}]}
            for s in samples
        ]
    )
    args = GKDConfig(
        output_dir=str(root / name),
        per_device_train_batch_size=batch,
        num_train_epochs=1,
        learning_rate=1e-4,
        lr_scheduler_type="linear",
        lmbda=1.0,
        beta=0.5,
        temperature=1.0,
        max_new_tokens=max_new_tokens,
        max_length=512,
        use_cpu=True,
        bf16=False,
        report_to=[],
        save_strategy="no",
        logging_steps=10_000,
        dataloader_num_workers=0,
        disable_tqdm=True,
        seed=0,
    )
    timer = _TrainerTimer()
    trainer = GKDTrainer(
        model=LlamaForCausalLM.from_pretrained(root / "student"),
        teacher_model=LlamaForCausalLM.from_pretrained(root / "teacher"),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        data_collator=DataCollatorForChatML(tokenizer=tokenizer, max_length=512),
        callbacks=[timer],
    )
    counts = {"tokens": 0, "generated": 0}
    inner = trainer.generate_on_policy_outputs

    def counting(model, inputs, generation_config):  # the tokens the loss is computed on, after generation
        ids, mask, labels = inner(model, inputs, generation_config)
        counts["tokens"] += int(mask.sum())
        counts["generated"] += int(mask[:, inputs["prompts"].shape[1] :].sum())
        return ids, mask, labels

    trainer.generate_on_policy_outputs = counting
    with contextlib.redirect_stdout(io.StringIO()):  # the Trainer prints its final metrics dict
        trainer.train()
    timer.timing.tokens = counts["tokens"]
    return timer.timing, counts["generated"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="Optimizer steps per run.")
    parser.add_argument("--rounds", type=int, default=2, help="Alternating rounds (the first is a warm-up).")
    parser.add_argument("--batch", type=int, default=8, help="Prompts per step.")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="Longest sampled response.")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="srd-onpolicy-bench-") as tmp:
        run_benchmark(Path(tmp), args)


def run_benchmark(root: Path, args: argparse.Namespace) -> None:
    """Build the models and prompts under ``root``, run the rounds, print the figures."""
    samples = make_samples(args.steps * args.batch)
    tokenizer = make_tokenizer(samples)
    for role, (hidden, layers, seed) in {"teacher": (256, 6, 1), "student": (128, 3, 2)}.items():
        model = make_llama(hidden, layers, tokenizer, seed)
        model.save_pretrained(root / role)
        tokenizer.save_pretrained(root / role)
        print(f"{role}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params", file=sys.stderr)

    rows = []
    for r in range(args.rounds):
        srd, srd_gen = run_srd(root, f"srd{r}", samples, args.batch, args.max_new_tokens)
        trl, trl_gen = run_trl(root, f"trl{r}", samples, args.batch, args.max_new_tokens, tokenizer)
        print(
            f"round {r}{' (warm-up, not counted)' if r == 0 and args.rounds > 1 else ''}: "
            f"srd {srd.tokens / srd.wall:,.0f} tok/s wall, {srd.tokens / srd.cpu:,.0f} tok/CPU-s, "
            f"{srd_gen / args.steps:.0f} generated/step | trl {trl.tokens / trl.wall:,.0f} tok/s wall, "
            f"{trl.tokens / trl.cpu:,.0f} tok/CPU-s, {trl_gen / args.steps:.0f} generated/step",
            flush=True,
        )
        if r > 0 or args.rounds == 1:
            rows.append((srd, trl))

    def median(values):
        return statistics.median(list(values))

    srd_wall, trl_wall = median(s.tokens / s.wall for s, _ in rows), median(t.tokens / t.wall for _, t in rows)
    srd_cpu, trl_cpu = median(s.tokens / s.cpu for s, _ in rows), median(t.tokens / t.cpu for _, t in rows)
    print(
        f"training tokens per epoch: srd {rows[0][0].tokens}, trl {rows[0][1].tokens} (batch {args.batch}, "
        f"{args.steps} steps, max_new_tokens {args.max_new_tokens}, vocab {VOCAB}, "
        f"torch threads {torch.get_num_threads()})"
    )
    print(f"{'':20s}{'tokens/s (wall)':>18s}{'tokens/CPU-s':>16s}")
    print(f"{'srd on_policy':20s}{srd_wall:18,.0f}{srd_cpu:16,.0f}")
    print(f"{'TRL GKD lmbda=1':20s}{trl_wall:18,.0f}{trl_cpu:16,.0f}")
    print(f"{'ratio srd / TRL':20s}{srd_wall / trl_wall:17.2f}x{srd_cpu / trl_cpu:15.2f}x   (target >= 1.5)")


if __name__ == "__main__":
    main()
