"""Generation length limits that follow the data: ``reflection.max_new_tokens`` / ``eval.max_new_tokens`` left
unset (null) come from the longest training reference, in tokens of the student's tokenizer.

The value is a function of the training data and the student's tokenizer only, both of which the reflection
and evaluation phases already read; ``srd_core.pipeline.phases`` records it as a derived input too, so a
change of the derived value alone makes their artifacts stale.
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache
from pathlib import Path

from srd_core.config import EvalConfig, ReflectionConfig, SRDConfig
from srd_core.data.samples import load_samples
from srd_core.errors import SRDError

logger = logging.getLogger(__name__)

MAX_NEW_TOKENS_CAP = 256
"""The most new tokens a derived limit allows (the official SRD scripts' fixed limit)."""
HEADROOM = 1.25
MARGIN = 8
SECTIONS = ("reflection", "eval")


def limit_for(longest: int) -> int:
    """New tokens for references of at most ``longest`` tokens: ×1.25 + 8, capped at 256."""
    return min(MAX_NEW_TOKENS_CAP, math.ceil(longest * HEADROOM) + MARGIN)


def derived_max_new_tokens(config: SRDConfig, run_dir: Path, local_only: bool = False) -> tuple[int, int] | None:
    """(limit, longest reference in tokens) from the training data and the student's tokenizer; None while the
    tokenizer cannot be had (a preset before ``prepare``; with ``local_only``, one that is not a local directory)."""
    from srd_core.models.loading import resolve_model_path  # deferred: torch

    try:
        path = resolve_model_path(config.student, Path(run_dir), "student")
    except SRDError:
        return None
    if local_only and not Path(path).is_dir():
        return None
    files = [Path(path) / name for name in ("tokenizer.json", "tokenizer_config.json")]
    stamp = tuple((f.stat().st_size, f.stat().st_mtime_ns) if f.is_file() else None for f in files)
    keyed = config.model_copy(update={"reflection": ReflectionConfig(), "eval": EvalConfig()})  # not inputs
    try:
        return _longest(str(path), stamp, keyed.model_dump_json())
    except SRDError:  # a hub tokenizer that cannot be loaded here: the phase that needs it says so itself
        return None


@lru_cache(maxsize=8)
def _longest(path: str, stamp: tuple, config_json: str) -> tuple[int, int]:
    """Computed once per tokenizer and config (the arguments are the cache key), and said once."""
    from srd_core.data.encoding import encode_response  # deferred: torch
    from srd_core.models.loading import load_tokenizer  # deferred: torch

    config = SRDConfig.model_validate_json(config_json)
    tokenizer = load_tokenizer(config.student, path, "student")
    longest = max(
        (len(encode_response(tokenizer, ref)) for s in load_samples(config, "train") for ref in s.references), default=1
    )
    limit = limit_for(longest)
    logger.info(
        "max_new_tokens left unset: %d new tokens, from the data (the longest training reference is %d "
        "tokens; × %.2f + %d, at most %d)",
        limit,
        longest,
        HEADROOM,
        MARGIN,
        MAX_NEW_TOKENS_CAP,
    )
    return limit, longest


def with_generation_limits(config: SRDConfig, run_dir: Path) -> SRDConfig:
    """``config`` with every unset ``max_new_tokens`` (reflection, eval) filled in from the data; fields the
    config sets keep their values. Without the tokenizer on disk the unset ones become the cap (256)."""
    unset = [section for section in SECTIONS if getattr(config, section).max_new_tokens is None]
    if not unset:
        return config
    derived = derived_max_new_tokens(config, run_dir)
    limit = derived[0] if derived is not None else MAX_NEW_TOKENS_CAP
    return config.model_copy(
        update={section: getattr(config, section).model_copy(update={"max_new_tokens": limit}) for section in unset}
    )
