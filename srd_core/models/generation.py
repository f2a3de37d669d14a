"""Batched generation shared by reflection and evaluation: left padding, KV cache, length buckets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from srd_core.data.encoding import encode_prompt, ensure_pad_token


@dataclass
class GenerationSettings:
    """How to decode: greedy by default."""

    max_new_tokens: int = 256
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int = 0
    no_repeat_ngram_size: int = 0
    """Block every n-gram of this size from repeating (0 = off; the official SRD scripts use 6)."""


@dataclass
class Generation:
    """One decoded answer and its token counts."""

    text: str
    prompt_tokens: int
    output_tokens: int
    prompt_truncated: bool


def batch_order(lengths: Sequence[int], batch_size: int, bucket_by_length: bool) -> list[list[int]]:
    """Indices grouped into batches; with bucketing, prompts of similar length share a batch."""
    order = (
        sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)) if bucket_by_length else list(range(len(lengths)))
    )
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@torch.inference_mode()
def generate_batch(
    model,
    tokenizer,
    prompt_ids: Sequence[Sequence[int]],
    settings: GenerationSettings,
    generator_seed: int | None = None,
) -> list[list[int]]:
    """Generate for one batch of already-encoded prompts (left padded); returns new token ids each."""
    ensure_pad_token(tokenizer)
    device = next(model.parameters()).device
    width = max(len(p) for p in prompt_ids)
    input_ids = torch.full((len(prompt_ids), width), tokenizer.pad_token_id, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    for row, ids in enumerate(prompt_ids):
        input_ids[row, width - len(ids) :] = torch.tensor(list(ids), dtype=torch.long)
        attention[row, width - len(ids) :] = 1
    kwargs = {
        "max_new_tokens": settings.max_new_tokens,
        "do_sample": settings.do_sample,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "use_cache": True,
    }
    if settings.no_repeat_ngram_size > 0:
        kwargs["no_repeat_ngram_size"] = settings.no_repeat_ngram_size
    if settings.do_sample:
        kwargs.update(temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k or None)
    else:  # silence sampling defaults some checkpoints ship in generation_config
        kwargs.update(temperature=None, top_p=None, top_k=None)
    # a seeded draw runs on a fork of the RNG: the caller's random stream (a training run's dropout, say)
    # continues as if nothing had been generated, so an evaluation never changes what is trained after it
    seeded = settings.do_sample and generator_seed is not None
    forked = (
        [device.index if device.index is not None else torch.cuda.current_device()]
        if seeded and device.type == "cuda"
        else []
    )
    with torch.random.fork_rng(devices=forked, enabled=seeded):
        if seeded:
            torch.manual_seed(generator_seed)
        out = model.generate(input_ids=input_ids.to(device), attention_mask=attention.to(device), **kwargs)
    new_tokens = out[:, width:].tolist()
    results = []
    for ids in new_tokens:
        if tokenizer.eos_token_id is not None and tokenizer.eos_token_id in ids:
            ids = ids[: ids.index(tokenizer.eos_token_id)]
        while ids and ids[-1] == tokenizer.pad_token_id:
            ids = ids[:-1]
        results.append(ids)
    return results


def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    settings: GenerationSettings,
    *,
    max_prompt_tokens: int = 256,
    batch_size: int = 16,
    bucket_by_length: bool = True,
    progress: str | None = None,
) -> list[Generation]:
    """Answer every prompt; results come back in the order of ``prompts``.

    Sampling is seeded per batch from ``settings.seed`` and the batch's first index, so a result
    does not depend on which other prompts were generated before it.
    """
    was_training = model.training
    model.eval()
    encoded = [encode_prompt(tokenizer, p, max_prompt_tokens) for p in prompts]
    batches = batch_order([len(e.input_ids) for e in encoded], batch_size, bucket_by_length)
    results: list[Generation | None] = [None] * len(prompts)
    for batch in tqdm(batches, desc=progress, disable=progress is None, unit="batch"):
        outputs = generate_batch(
            model,
            tokenizer,
            [encoded[i].input_ids for i in batch],
            settings,
            generator_seed=settings.seed * 1_000_003 + batch[0],
        )
        for i, ids in zip(batch, outputs, strict=True):
            results[i] = Generation(
                text=tokenizer.decode(ids, skip_special_tokens=True).strip(),
                prompt_tokens=len(encoded[i].input_ids),
                output_tokens=len(ids),
                prompt_truncated=encoded[i].truncated,
            )
    model.train(was_training)
    return [r for r in results if r is not None]


def truncation_notice(what: str, truncated: int, total: int, max_prompt_tokens: int) -> str | None:
    """One line saying how many prompts were cut and which setting keeps them whole, or None."""
    if not truncated:
        return None
    return (
        f"{what}: {truncated} of {total} prompts ({truncated / total:.1%}) are longer than "
        f"data.max_prompt_tokens={max_prompt_tokens} tokens and were cut from the left; raise "
        "data.max_prompt_tokens (and data.max_length with it) to keep them whole"
    )
