"""Loading teacher and student: HF hub ids or local directories, dtype, offline-friendly errors."""

from __future__ import annotations

from pathlib import Path

import torch

from srd_core.config import ModelConfig
from srd_core.data import ensure_pad_token
from srd_core.errors import SRDError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "auto": "auto"}


class ModelNotFoundError(SRDError):
    """A model id that is neither a local directory nor reachable on the hub."""


def prepared_dir(run_dir: Path, role: str) -> Path:
    """Where the `prepare` phase saves a preset model for ``role`` ("teacher" or "student")."""
    return Path(run_dir) / "prepared" / role


def resolve_model_path(cfg: ModelConfig, run_dir: Path, role: str) -> str:
    """The directory or hub id to load for ``role``: ``path``, or the prepared preset in the run dir."""
    if cfg.path is not None:
        return cfg.path
    directory = prepared_dir(run_dir, role)
    if not (directory / "config.json").is_file():
        raise SRDError(f"{role}: preset {cfg.preset!r} has not been prepared yet (run `srd run` or `srd prepare`)")
    return str(directory)


def _hub_error(role: str, name: str, exc: Exception) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"{role}.path: {name!r} not found locally and the hub is unreachable; pass a local path "
        f"({type(exc).__name__})"
    )


def load_tokenizer(cfg: ModelConfig, name: str, role: str):
    """The tokenizer of a model (pad token set to EOS when missing)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            name, revision=cfg.revision, trust_remote_code=cfg.trust_remote_code
        )
    except OSError as exc:
        raise _hub_error(role, name, exc) from None
    ensure_pad_token(tokenizer)
    return tokenizer


def load_causal_lm(cfg: ModelConfig, name: str, role: str):
    """The causal LM at ``name`` in the configured dtype."""
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(
            name, revision=cfg.revision, dtype=DTYPES[cfg.dtype], trust_remote_code=cfg.trust_remote_code
        )
    except OSError as exc:
        raise _hub_error(role, name, exc) from None
