"""KD training throughput: srd's loop vs. TRL's GKDTrainer on the same tiny Llama pair and data.

Both train the same student (hidden 128, 3 layers, 2.6M params) from the same teacher (hidden 256,
6 layers, 8.1M params), vocab 8192, on the same samples with the same batch size, pure forward KL
(srd: ``fkl``, T = 1, SFT weight 0; TRL: ``lmbda=0, beta=0``), AdamW, fp32 on CPU. The two run
alternately in one process, ``--rounds`` times each; round 0 is a warm-up and is not counted.

Every optimizer step is timed (from the end of the previous one, data loading included): tokens/s
of each (non-padding tokens, counted by each framework's own collation) per wall-clock second and
per CPU second of the process (all threads; steadier when other work shares the machine), and the
ratios. Between srd's steps, the bare model passes on the same batch are timed (teacher forward +
student forward and backward with a plain CE loss, no optimizer), so that srd's KD step time /
bare-pass time compares the two under the same machine load.

    .venv/bin/python benchmarks/kd_throughput.py [--steps 8] [--rounds 3] [--batch 16] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, TrainerCallback

from srd_core import plugins
from srd_core.components import StagePlan
from srd_core.config import config_from_dict
from srd_core.data.encoding import collate_right_padded, encode_example
from srd_core.hookspecs import hookimpl
from srd_core.training.batches import global_batch_ids
from srd_core.training.loop import train
from srd_core.types import Sample

VOCAB = 8192
CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}{{ m['content'] }}\n"
    "{% else %}{{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}"
)
WORDS = [f"w{i}{c}" for i in range(300) for c in "xyz"]


def make_samples(n: int, seed: int = 0) -> list[Sample]:
    """Word reversal / sorting prompts of 10-30 words (about 40-110 tokens per sample)."""
    rng = random.Random(seed)
    samples = []
    for i in range(n):
        words = rng.sample(WORDS, rng.randint(10, 30))
        task = rng.choice(["reverse", "sort"])
        answer = list(reversed(words)) if task == "reverse" else sorted(words)
        samples.append(Sample(id=f"b{i}", prompt=f"{task}: {' '.join(words)}", references=[" ".join(answer)]))
    return samples


def make_tokenizer(samples: list[Sample]) -> PreTrainedTokenizerFast:
    """Byte-level BPE (at most 8192 tokens) with a minimal chat template (user line, answer + EOS)."""
    special = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        special_tokens=list(special.values()),
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([s.prompt + "\n" + s.target for s in samples], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **special)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def make_llama(hidden: int, layers: int, tokenizer, seed: int, vocab: int = VOCAB) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(config)


def srd_config(root: Path, name: str, batch: int, epochs: float):
    return config_from_dict(
        {
            "run": {"name": name, "output_dir": str(root)},
            "teacher": {"path": str(root / "teacher")},
            "student": {"path": str(root / "student")},
            "data": {"train": {"name": "jsonl", "train": str(root / "unused.jsonl")}, "max_length": 512},
            "curriculum": {"pacer": {"name": "all", "epochs": epochs}},
            "train": {
                "kd_loss": "fkl",
                "temperature": {"name": "constant", "value": 1.0},
                "sft_weight": {"name": "constant", "value": 0.0},
                "lr": 1e-4,
                "batch_size": batch,
                "lr_scheduler": "linear",
                "max_grad_norm": 1.0,
            },
        }
    )


def now() -> tuple[float, float]:
    """(wall-clock, process CPU) seconds; CPU time counts every thread of this process."""
    return time.perf_counter(), time.process_time()


@dataclass
class Timing:
    """Wall-clock and CPU seconds of each training step of a run, and the tokens it trained on."""

    tokens: int
    step_wall: list[float] = field(default_factory=list)
    step_cpu: list[float] = field(default_factory=list)

    def add(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        self.step_wall.append(end[0] - start[0])
        self.step_cpu.append(end[1] - start[1])

    @property
    def wall(self) -> float:
        return sum(self.step_wall)

    @property
    def cpu(self) -> float:
        return sum(self.step_cpu)


class BarePasses:
    """Teacher forward + student forward/backward with a plain CE loss on the batches srd trains on."""

    def __init__(self, root: Path, samples: list[Sample], batch: int, tokenizer) -> None:
        self.teacher = LlamaForCausalLM.from_pretrained(root / "teacher").eval().requires_grad_(False)
        self.student = LlamaForCausalLM.from_pretrained(root / "student").train()
        self.samples, self.batch, self.tokenizer = {s.id: s for s in samples}, batch, tokenizer
        self.plan = StagePlan([s.id for s in samples], 1.0)
        self.timing = Timing(0)

    def run(self, step: int) -> None:
        """Time the bare passes on the batch of srd's 0-based ``step``."""
        ids = global_batch_ids(self.plan, 0, step, 0, self.batch)
        examples = [
            encode_example(self.tokenizer, self.samples[i].prompt, self.samples[i].target, 256, 512) for i in ids
        ]
        b = collate_right_padded(examples, self.tokenizer.pad_token_id)
        start = now()
        with torch.no_grad():
            self.teacher(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
        out = self.student(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"])
        out.loss.backward()
        self.timing.add(start, now())
        self.student.zero_grad(set_to_none=True)


class _SrdTimer:
    """srd notify-hooks: time every optimizer step; between steps, time the bare passes on the same batch.

    Interleaving step by step puts both measurements under the same load of the machine.
    """

    def __init__(self, bare: BarePasses) -> None:
        self.bare, self.timing, self.resumed = bare, Timing(0), now()

    @hookimpl
    def stage_start(self, context):
        self.resumed = now()

    @hookimpl
    def step_end(self, context, metrics):
        self.timing.add(self.resumed, now())
        self.bare.run(metrics["step"] - 1)
        self.resumed = now()


def run_srd(root: Path, name: str, samples: list[Sample], batch: int, tokenizer) -> tuple[Timing, Timing]:
    """(srd's loop, bare passes) over the samples (one epoch)."""
    config = srd_config(root, name, batch, 1.0)
    timer = _SrdTimer(BarePasses(root, samples, batch, tokenizer))
    plugins.register(timer, name="kd-throughput-timer")
    try:
        summary = train(config, root / name, "srd", samples=samples)
    finally:
        plugins.unregister("kd-throughput-timer")
    timer.timing.tokens = summary.tokens
    return timer.timing, timer.bare.timing


class _TrainerTimer(TrainerCallback):
    """Trainer callbacks: time every optimizer step (from the end of the previous one)."""

    def __init__(self) -> None:
        self.timing, self.resumed = Timing(0), now()

    def on_train_begin(self, args, state, control, **kwargs):
        self.resumed = now()

    def on_step_end(self, args, state, control, **kwargs):
        self.timing.add(self.resumed, now())
        self.resumed = now()


class _CountingCollator:
    """Wraps TRL's ChatML collator and counts the non-padding tokens it hands out."""

    def __init__(self, inner) -> None:
        self.inner, self.tokens = inner, 0

    def __call__(self, examples):
        batch = self.inner(examples)
        self.tokens += int(batch["attention_mask"].sum())
        return batch


def run_trl(root: Path, name: str, samples: list[Sample], batch: int, tokenizer) -> Timing:
    """TRL's GKDTrainer (lmbda=0, beta=0, fp32) over the samples (one epoch), timed like ``run_srd``."""
    from datasets import Dataset
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
        lmbda=0.0,
        beta=0.0,
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
    collator = _CountingCollator(DataCollatorForChatML(tokenizer=tokenizer, max_length=512))
    timer = _TrainerTimer()
    trainer = GKDTrainer(
        model=LlamaForCausalLM.from_pretrained(root / "student"),
        teacher_model=LlamaForCausalLM.from_pretrained(root / "teacher"),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        data_collator=collator,
        callbacks=[timer],
    )
    with contextlib.redirect_stdout(io.StringIO()):  # the Trainer prints its final metrics dict
        trainer.train()
    timer.timing.tokens = collator.tokens
    return timer.timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="Optimizer steps per run.")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating rounds (the first is a warm-up).")
    parser.add_argument("--batch", type=int, default=16, help="Samples per step.")
    parser.add_argument("--vocab", type=int, default=VOCAB, help="Vocabulary of both models (LM head size).")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's choice); 1 gives steadier CPU times on a busy machine.",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="srd-kd-bench-") as tmp:
        run_benchmark(Path(tmp), args)


def run_benchmark(root: Path, args: argparse.Namespace) -> None:
    """Build the models and data under ``root``, run the rounds, print the figures."""
    samples = make_samples(args.steps * args.batch)
    tokenizer = make_tokenizer(samples)
    for role, (hidden, layers, seed) in {"teacher": (256, 6, 1), "student": (128, 3, 2)}.items():
        model = make_llama(hidden, layers, tokenizer, seed, args.vocab)
        model.save_pretrained(root / role)
        tokenizer.save_pretrained(root / role)
        print(f"{role}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params", file=sys.stderr)

    rows: list[tuple[Timing, Timing, float]] = []
    for r in range(args.rounds):
        srd, bare = run_srd(root, f"srd{r}", samples, args.batch, tokenizer)
        trl = run_trl(root, f"trl{r}", samples, args.batch, tokenizer)
        step_ratio = sum(srd.step_cpu[1:]) / sum(bare.step_cpu[1:])  # the first step of each left out
        print(
            f"round {r}{' (warm-up, not counted)' if r == 0 and args.rounds > 1 else ''}: "
            f"srd {srd.tokens / srd.wall:,.0f} tok/s wall, {srd.tokens / srd.cpu:,.0f} tok/CPU-s | "
            f"trl {trl.tokens / trl.wall:,.0f} tok/s wall, {trl.tokens / trl.cpu:,.0f} tok/CPU-s | "
            f"srd step / bare passes: CPU {step_ratio:.3f}, "
            f"wall {sum(srd.step_wall[1:]) / sum(bare.step_wall[1:]):.3f}",
            flush=True,
        )
        if r > 0 or args.rounds == 1:
            rows.append((srd, trl, step_ratio))

    def median(values):
        return statistics.median(list(values))

    srd_wall, trl_wall = median(s.tokens / s.wall for s, _, _ in rows), median(t.tokens / t.wall for _, t, _ in rows)
    srd_cpu, trl_cpu = median(s.tokens / s.cpu for s, _, _ in rows), median(t.tokens / t.cpu for _, t, _ in rows)
    print(
        f"tokens per epoch: srd {rows[0][0].tokens}, trl {rows[0][1].tokens} (batch {args.batch}, "
        f"{args.steps} steps, vocab {args.vocab}, torch threads {torch.get_num_threads()})"
    )
    print(f"{'':16s}{'tokens/s (wall)':>18s}{'tokens/CPU-s':>16s}")
    print(f"{'srd loop':16s}{srd_wall:18,.0f}{srd_cpu:16,.0f}")
    print(f"{'TRL GKDTrainer':16s}{trl_wall:18,.0f}{trl_cpu:16,.0f}")
    print(f"{'speed-up':16s}{srd_wall / trl_wall:17.2f}x{srd_cpu / trl_cpu:15.2f}x   (target >= 2)")
    print(
        f"srd KD step / (teacher fwd + student fwd+bwd), CPU time: {median(r for _, _, r in rows):.3f}"
        "   (target <= 1.15)"
    )


if __name__ == "__main__":
    main()
