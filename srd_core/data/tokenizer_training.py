"""A BPE tokenizer trained on a text corpus with ``tokenizers``, wrapped as a Hugging Face tokenizer.

Byte-level BPE (any unicode text round-trips), digits split one by one (as Llama does, so numbers
are spelled digit by digit), ``<s>`` prepended to every encoded text with special tokens, and the
four special tokens ``<s> </s> <pad> <unk>`` declared so ``AutoTokenizer`` loads it back.
Prompt-template lines shared by most texts (the Alpaca preamble, ``### Response:``) become single
tokens, which makes templated prompts several times shorter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

WORD_PIECES = r"[^\W\d_]+|\d|\n+|\s|[^\w\s]+|_+"
"""Pre-tokenization: letter runs, single digits, newline runs, single other whitespace characters,
punctuation runs.

Spaces are tokens of their own, so a word is the same token at the start of a line, after a space
or at the start of a response (copying an input word means repeating its token)."""

SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}


def template_lines(texts: Sequence[str], min_share: float = 0.5, min_chars: int = 4) -> list[str]:
    """Lines (of at least ``min_chars`` characters) that occur in at least ``min_share`` of ``texts``."""
    counts = Counter(line for text in texts for line in set(text.split("\n")) if len(line) >= min_chars)
    needed = max(2, min_share * len(texts))
    return sorted(line for line, n in counts.items() if n >= needed)


def train_bpe_tokenizer(
    texts: Sequence[str],
    vocab_size: int,
    min_frequency: int = 2,
    model_max_length: int = 1024,
    template_share: float | None = 0.1,
) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``texts``: ``vocab_size`` BPE entries (special tokens included)
    plus one token per template line (a line in at least ``template_share`` of the texts; ``None``: none).
    """
    tokenizer = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(WORD_PIECES), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    bos = SPECIAL_TOKENS["bos_token"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, tokenizer.token_to_id(bos))]
    )
    if template_share is not None:
        lines = template_lines(texts, template_share)
        tokenizer.add_tokens([AddedToken(line, normalized=False, special=False) for line in lines])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=model_max_length, **SPECIAL_TOKENS)


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, directory: str | Path) -> Path:
    """Save in the Hugging Face format (``AutoTokenizer.from_pretrained(directory)`` loads it)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(directory)
    return directory
