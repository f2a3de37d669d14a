"""Reflection throughput: srd's pass (batched, length-bucketed, KV cache) vs. a per-sample generate loop.

The per-sample loop is what the official SRD/MiniLLM-style scripts do for the reflection: for each
prompt, ``model.generate`` on that prompt alone, then one teacher-forced forward for its CE. srd runs
``srd_core.reflection.reflect.reflect_samples`` (the same greedy decoding and CE, batched). Both use the same
tiny student (preset ``tiny-student``: hidden 128, 3 layers, ~1M params plus embeddings), briefly
warm-started so it ends answers with EOS, the same prompts and the same length limits.

Two scenarios: the random-init student, whose answers run to ``max_new_tokens`` (decode-bound, like
long answers on real instruction data), and the same student after a short SFT warm start, whose
answers are a few tokens long (prefill-bound: batching gains little there on one CPU thread).
Printed for each: samples/s of both, the ratio (target >= 3x), and how many greedy outputs are
identical between the two (and the largest CE difference).

    .venv/bin/python benchmarks/reflection_speed.py [--n 256] [--data MINILLM.jsonl] [--warm-steps 150]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import torch.nn.functional as F

from srd_core.builtins.tasks import alpaca_prompt
from srd_core.config import ReflectionConfig
from srd_core.data.encoding import IGNORE_INDEX, collate_right_padded, encode_example, encode_prompt
from srd_core.data.tokenizer_training import train_bpe_tokenizer
from srd_core.models.presets import build_model, resolve_preset
from srd_core.reflection.reflect import generation_settings, prompt_limit, reflect_samples
from srd_core.types import Sample

WORDS = [
    "river",
    "stone",
    "light",
    "cloud",
    "paper",
    "garden",
    "window",
    "silver",
    "market",
    "engine",
    "forest",
    "bridge",
    "candle",
    "ocean",
    "thunder",
    "valley",
    "mirror",
    "orange",
    "planet",
    "signal",
    "winter",
    "harbor",
    "meadow",
    "castle",
    "rocket",
    "violin",
]


def synthetic_samples(n: int, seed: int = 0) -> list[Sample]:
    """Alpaca prompts of very different lengths (3 to 120 input words); the answer reverses the first 5 to 40."""
    rng = random.Random(seed)
    samples = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.choice([3, 5, 8, 12, 20, 40, 80, 120]))]
        answer = " ".join(reversed(words[: rng.randint(5, 40)]))
        samples.append(Sample(f"s{i}", alpaca_prompt("Reverse the first words.", " ".join(words)), [answer]))
    return samples


def file_samples(path: str, n: int) -> list[Sample]:
    """The first ``n`` samples of a MiniLLM-format jsonl file."""
    samples = []
    with open(path, encoding="utf-8") as fh:
        for i, line in zip(range(n), fh, strict=False):
            row = json.loads(line)
            refs = row["output"] if isinstance(row["output"], list) else [row["output"]]
            samples.append(Sample(f"s{i}", row["prompt"], refs))
    return samples


def warm_start(model, tokenizer, samples: list[Sample], steps: int, max_prompt: int, max_length: int) -> None:
    """A few AdamW steps of SFT so the student produces answers of varied length that end in EOS."""
    if steps <= 0:
        return
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    rng = random.Random(0)
    for _ in range(steps):
        batch = rng.sample(samples, 16)
        enc = collate_right_padded(
            [encode_example(tokenizer, s.prompt, s.target, max_prompt, max_length) for s in batch],
            tokenizer.pad_token_id,
        )
        loss = model(**enc).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


@torch.inference_mode()
def per_sample_loop(
    model, tokenizer, samples: list[Sample], max_new_tokens: int, max_prompt: int, max_length: int
) -> list[tuple[str, float]]:
    """The reference: one ``generate`` and one CE forward per sample, no batching."""
    out = []
    for s in samples:
        ids = torch.tensor([encode_prompt(tokenizer, s.prompt, max_prompt).input_ids])
        generated = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        new = generated[0, ids.shape[1] :].tolist()
        if tokenizer.eos_token_id in new:
            new = new[: new.index(tokenizer.eos_token_id)]
        text = tokenizer.decode(new, skip_special_tokens=True).strip()
        ex = encode_example(tokenizer, s.prompt, s.target, max_prompt, max_length)
        logits = model(input_ids=torch.tensor([ex.input_ids])).logits[0, :-1].float()
        ce = F.cross_entropy(logits, torch.tensor(ex.labels[1:]), ignore_index=IGNORE_INDEX).item()
        out.append((text, ce))
    return out


def measure(model, tokenizer, samples: list[Sample], args, label: str) -> float:
    """Time both passes on ``model``; print samples/s, the ratio and the output agreement; return the ratio."""
    cfg = ReflectionConfig(batch_size=args.batch_size, max_new_tokens=args.max_new_tokens)
    new_tokens = generation_settings(cfg, args.max_prompt_tokens, args.max_length).max_new_tokens
    limit = prompt_limit(args.max_prompt_tokens, args.max_length)
    reflect_samples(model, tokenizer, samples[:4], cfg, args.max_prompt_tokens, args.max_length, progress=False)
    start = time.perf_counter()
    records = reflect_samples(model, tokenizer, samples, cfg, args.max_prompt_tokens, args.max_length, progress=False)
    srd_s = time.perf_counter() - start
    start = time.perf_counter()
    reference = per_sample_loop(model, tokenizer, samples, new_tokens, limit, args.max_length)
    loop_s = time.perf_counter() - start

    same = sum(r.output == text for r, (text, _) in zip(records, reference, strict=True))
    ce_diff = max(abs(r.ce - ce) for r, (_, ce) in zip(records, reference, strict=True))
    lengths = [r.output_tokens for r in records]
    print(
        f"== {label}: mean answer {sum(lengths) / len(lengths):.1f} tokens (max_new_tokens {new_tokens}), "
        f"mean prompt {sum(r.prompt_tokens for r in records) / len(records):.0f} tokens"
    )
    print(
        f"srd reflection (batch {args.batch_size}, bucketed, KV cache): {len(samples) / srd_s:8.2f} samples/s "
        f"({srd_s:.1f} s)"
    )
    print(f"per-sample generate loop:                       {len(samples) / loop_s:8.2f} samples/s ({loop_s:.1f} s)")
    print(f"speed-up: {loop_s / srd_s:.2f}x (target >= 3x)")
    print(f"same greedy outputs: {same}/{len(samples)}; max |CE difference| {ce_diff:.2e}")
    return loop_s / srd_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="Number of prompts.")
    parser.add_argument("--data", help="MiniLLM-format jsonl to take prompts from (default: synthetic).")
    parser.add_argument("--batch-size", type=int, default=32, help="srd reflection batch size.")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--max-prompt-tokens", type=int, default=256)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument(
        "--warm-steps", type=int, default=150, help="SFT steps of the second, short-answer scenario (0: skip it)."
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    samples = file_samples(args.data, args.n) if args.data else synthetic_samples(args.n)
    tokenizer = train_bpe_tokenizer([t for s in samples for t in (s.prompt, *s.references)], vocab_size=2048)
    model = build_model(resolve_preset("tiny-student"), tokenizer, seed=0)
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"student: tiny-student preset, {n_params / 1e6:.2f}M params, vocab {len(tokenizer)}; "
        f"{len(samples)} prompts ({'file ' + args.data if args.data else 'synthetic'}); greedy; "
        f"{args.threads} thread(s)"
    )
    measure(model, tokenizer, samples, args, "random-init student (answers run to the limit)")
    if args.warm_steps > 0:
        warm_start(
            model,
            tokenizer,
            samples,
            args.warm_steps,
            prompt_limit(args.max_prompt_tokens, args.max_length),
            args.max_length,
        )
        measure(model, tokenizer, samples, args, f"after {args.warm_steps} SFT steps (short answers ending in EOS)")


if __name__ == "__main__":
    main()
