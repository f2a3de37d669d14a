"""Tokenization shared by reflection, training and evaluation: one encoding of prompt + response.

The prompt is cut from the left to ``max_prompt_tokens`` (a leading BOS is kept); the response gets
EOS appended and is cut so prompt + response fit ``max_length``. Labels mask the prompt with -100.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

IGNORE_INDEX = -100


@dataclass
class EncodedPrompt:
    """Prompt token ids and whether the prompt had to be cut."""

    input_ids: list[int]
    truncated: bool


@dataclass
class EncodedExample:
    """A training example: ids, labels (-100 on the prompt), and bookkeeping counts."""

    input_ids: list[int]
    labels: list[int]
    prompt_tokens: int
    response_tokens: int
    prompt_truncated: bool


def encode_prompt(tokenizer, prompt: str, max_prompt_tokens: int) -> EncodedPrompt:
    """Token ids of ``prompt`` (with the tokenizer's special prefix), cut from the left if too long."""
    # verbose=False: a long prompt is cut below and counted by its caller, not warned about per prompt
    ids = list(tokenizer(prompt, add_special_tokens=True, verbose=False)["input_ids"])
    if not ids:  # generation needs at least one position to condition on
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        ids = [start] if start is not None else []
    if len(ids) <= max_prompt_tokens:
        return EncodedPrompt(ids, False)
    bos = tokenizer.bos_token_id
    if bos is not None and ids and ids[0] == bos and max_prompt_tokens > 1:
        return EncodedPrompt([bos, *ids[len(ids) - (max_prompt_tokens - 1) :]], True)
    return EncodedPrompt(ids[len(ids) - max_prompt_tokens :], True)


def encode_response(tokenizer, response: str) -> list[int]:
    """Token ids of ``response`` followed by EOS."""
    ids = list(tokenizer(response, add_special_tokens=False, verbose=False)["input_ids"])
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return ids


def encode_example(tokenizer, prompt: str, response: str, max_prompt_tokens: int, max_length: int) -> EncodedExample:
    """Prompt + response ids with labels on the response only (cut to fit ``max_length``)."""
    enc = encode_prompt(tokenizer, prompt, min(max_prompt_tokens, max_length - 1))
    response_ids = encode_response(tokenizer, response)[: max_length - len(enc.input_ids)]
    ids = enc.input_ids + response_ids
    labels = [IGNORE_INDEX] * len(enc.input_ids) + response_ids
    return EncodedExample(ids, labels, len(enc.input_ids), len(response_ids), enc.truncated)


def collate_right_padded(examples: Sequence[EncodedExample], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Batch examples with right padding: ``input_ids``, ``attention_mask``, ``labels``."""
    width = max(len(e.input_ids) for e in examples)
    input_ids = torch.full((len(examples), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        input_ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        attention[row, :n] = 1
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def ensure_pad_token(tokenizer) -> None:
    """Give tokenizers without a pad token (GPT-2, Llama) one: the EOS token."""
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise ValueError("tokenizer has neither a pad nor an EOS token")
        tokenizer.pad_token = tokenizer.eos_token
