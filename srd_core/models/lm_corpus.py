"""The text a preset student is pretrained on as a language model (``prepare.student_lm``).

Documents are the training samples' prompts and responses as free text, every token a target. With
``separate`` each prompt and each response is a document of its own (prompts without EOS, so the model
never sees what follows the prompt: the prompt-to-answer format stays unknown until the warm start);
with ``joined`` a document is a prompt followed by its response and EOS.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from srd_core.data.encoding import EncodedExample, encode_prompt, encode_response
from srd_core.types import Sample


def lm_documents(
    tokenizer, samples: Sequence[Sample], corpus: Literal["separate", "joined"], max_length: int
) -> list[EncodedExample]:
    """The encoded documents of ``corpus`` over ``samples`` (cut to ``max_length``), labels on every token."""
    documents: list[list[int]] = []
    for sample in samples:
        prompt = encode_prompt(tokenizer, sample.prompt, max_length).input_ids
        response = encode_response(tokenizer, sample.target)
        if corpus == "joined":
            documents.append((prompt + response)[:max_length])
        else:
            documents.append(prompt)
            documents.append((_start(tokenizer) + response)[:max_length])
    return [EncodedExample(ids, list(ids), 0, len(ids), False) for ids in documents if len(ids) > 1]


def _start(tokenizer) -> list[int]:
    """The tokenizer's document prefix (BOS) if it adds one, so a response document starts like a prompt."""
    ids = list(tokenizer("", add_special_tokens=True)["input_ids"])
    return ids[:1] if ids and ids[0] == tokenizer.bos_token_id else []
