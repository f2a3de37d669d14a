"""Upper bounds of the size, count and epoch fields: what any machine could ever run.

A value above its bound is a typo or a unit mistake (``batch_size: 1e30``), refused by validation in
one line before it reaches an allocation, a loop or an integer overflow. Each bound sits far above
the largest real use, so no honest config meets it; the field descriptions state them.
"""

from __future__ import annotations

MAX_BATCH = 2**20
"""Samples (or prompts, sentence pairs) per batch or per gradient-accumulation count: ~1M, 250x the
largest published global batches (~4k sequences)."""

MAX_TOKENS = 2**24
"""Tokens of one sequence (prompt, response, generation, context window): ~16.8M, above the longest
context windows (~10M)."""

MAX_KD_CHUNK = 2**31
"""Response tokens per chunk of the KD loss: int32's range; a chunk above a batch's tokens is the batch."""

MAX_VOCAB = 2**24
"""Vocabulary size (and top-k of logits): ~16.8M, 64x the largest LM vocabularies (~256k)."""

MAX_SAMPLES = 10**8
"""Samples of one split (generated, limited, carved or evaluated): 100M, 10x the largest instruction sets."""

MAX_EPOCHS = 10**4
"""Epochs over the data of one stage or run."""

MAX_STEPS = 10**9
"""Optimizer steps, and intervals counted in steps: a billion steps is years of training at 10 steps/s."""

MAX_STAGES = 10**4
"""Curriculum bins (stages) of one run; each stage is a separate plan and LR schedule."""

MAX_CHECKPOINTS = 10**4
"""Checkpoints kept at once."""

MAX_MINUTES = 10**6
"""Minutes of a wall-clock interval: about two years."""

MAX_LAYERS = 2**12
"""Transformer layers of a model: 4096 (the deepest LMs have ~100-200)."""

MAX_WIDTH = 2**17
"""Hidden, MLP and LoRA widths: 131,072, above the widest LMs' MLP (~53k)."""

MAX_HEADS = 2**12
"""Attention heads of a layer."""

MAX_RECORD_BYTES = 2**30
"""Largest ``data.max_record_bytes`` a config may set: 1 GiB in one jsonl line."""

MAX_RECORD_DEPTH = 32
"""Deepest nesting of objects and lists in one data record (a sample is a flat mapping of strings and
lists of strings: depth 2); deeper records are refused, naming file and line."""
