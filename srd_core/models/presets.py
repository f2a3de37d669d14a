"""Built-in tiny Llama architectures (``ModelConfig.preset``): real HF models built from a ``LlamaConfig``.

``tiny-teacher`` and ``tiny-student`` are the demo pair (the student has about 4× fewer parameters);
``micro-*`` are toy sizes for tests. Every size field can be overridden (``prepare.teacher_arch`` /
``prepare.student_arch`` in the config).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srd_core.errors import ConfigError

if TYPE_CHECKING:  # imported where a model is built: validating a preset's sizes needs neither
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM


@dataclass(frozen=True)
class Preset:
    """The size of a Llama-architecture model; the vocabulary comes from the tokenizer."""

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    num_kv_heads: int | None = None
    tie_word_embeddings: bool = True
    max_position_embeddings: int = 512
    rope_theta: float = 10000.0


PRESETS: dict[str, Preset] = {
    "tiny-teacher": Preset(hidden_size=192, num_layers=4, num_heads=4, intermediate_size=512),
    "tiny-student": Preset(hidden_size=96, num_layers=4, num_heads=4, intermediate_size=256),
    "micro-teacher": Preset(hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128),
    "micro-student": Preset(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64),
}


def resolve_preset(name: str, overrides: Mapping[str, Any] | None = None, field_path: str = "preset") -> Preset:
    """The preset ``name`` with ``overrides`` (``None`` values ignored) applied; unknown names are errors."""
    if name not in PRESETS:
        raise ConfigError(f"{field_path}: unknown preset {name!r} (available: {', '.join(PRESETS)})")
    changes = {k: v for k, v in (overrides or {}).items() if v is not None}
    known = {f.name for f in fields(Preset)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ConfigError(f"{field_path}: unknown size fields {unknown} (known: {', '.join(sorted(known))})")
    preset = replace(PRESETS[name], **changes)
    if preset.hidden_size % preset.num_heads:
        raise ConfigError(
            f"{field_path}: hidden_size {preset.hidden_size} is not divisible by num_heads {preset.num_heads}"
        )
    return preset


def llama_config(preset: Preset, tokenizer=None, vocab_size: int | None = None) -> LlamaConfig:
    """The ``LlamaConfig`` of ``preset`` for ``tokenizer``'s vocabulary and special tokens (or, without a
    tokenizer, for ``vocab_size`` with no special tokens: enough to know the model's modules)."""
    from transformers import LlamaConfig  # deferred: transformers

    special = {}
    if tokenizer is not None:
        vocab_size = len(tokenizer)
        special = {
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        }
    if vocab_size is None:
        raise ValueError("llama_config needs a tokenizer or a vocab_size")
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=preset.hidden_size,
        intermediate_size=preset.intermediate_size,
        num_hidden_layers=preset.num_layers,
        num_attention_heads=preset.num_heads,
        num_key_value_heads=preset.num_kv_heads or preset.num_heads,
        max_position_embeddings=preset.max_position_embeddings,
        # transformers 5 takes rope_theta through **kwargs (into rope_parameters), 4.x by name; its typed
        # signature omits it, and rope_parameters does not exist in the 4.x we support
        rope_theta=preset.rope_theta,  # type: ignore[call-arg]
        tie_word_embeddings=preset.tie_word_embeddings,
        **special,
    )


def build_model(preset: Preset, tokenizer, seed: int = 0) -> LlamaForCausalLM:
    """A randomly initialised ``LlamaForCausalLM`` of ``preset`` size (initialisation seeded)."""
    import torch  # deferred: torch
    from transformers import LlamaForCausalLM  # deferred: transformers

    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = LlamaForCausalLM(llama_config(preset, tokenizer))
    finally:
        torch.random.set_rng_state(state)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def count_parameters(model: torch.nn.Module) -> int:
    """Number of distinct parameters (tied weights counted once)."""
    return sum(p.numel() for p in model.parameters())


def approx_parameters(preset: Preset, vocab_size: int) -> int:
    """Parameters of ``preset`` with a ``vocab_size`` vocabulary, without building it (norms left out)."""
    h, kv = preset.hidden_size, (preset.num_kv_heads or preset.num_heads) * (preset.hidden_size // preset.num_heads)
    layer = 2 * h * h + 2 * h * kv + 3 * h * preset.intermediate_size
    embeddings = vocab_size * h * (1 if preset.tie_word_embeddings else 2)
    return embeddings + preset.num_layers * layer


def save_model(model, tokenizer, directory: str | Path) -> Path:
    """Save model and tokenizer with ``save_pretrained``, loadable with the ``Auto*`` classes."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def describe(preset: Preset) -> dict[str, Any]:
    """The preset's fields as a plain mapping (cache keys, reports)."""
    return asdict(preset)
