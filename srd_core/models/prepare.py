"""The ``prepare`` phase for ``preset`` models: tokenizer, teacher SFT, student SFT warm start.

Everything lands in ``run_dir/prepared/{tokenizer,teacher,student}`` with ``prepare.json`` holding
the content hash of what was prepared; a rerun with the same inputs skips the phase. The directory
is built next to its final place and renamed into it, so a crash never leaves a half-prepared run.
A model given by ``path`` is used as is (its tokenizer then serves the preset model).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from srd_core.config import ModelConfig, SFTConfig, SRDConfig
from srd_core.data.encoding import EncodedExample, collate_right_padded, encode_example, ensure_pad_token
from srd_core.data.samples import load_samples
from srd_core.errors import SRDError
from srd_core.fingerprints import directory_digest
from srd_core.io import fingerprint, write_json_atomic
from srd_core.models.lm_corpus import lm_documents
from srd_core.models.loading import load_tokenizer
from srd_core.models.presets import (
    approx_parameters,
    build_model,
    count_parameters,
    describe,
    resolve_preset,
    save_model,
)
from srd_core.rundir import PREPARE_MANIFEST_FILE, PREPARED_DIR, PREPARED_TOKENIZER_DIR
from srd_core.types import Sample

logger = logging.getLogger(__name__)

PREPARE_VERSION = 2
"""Bumped when the prepare procedure changes, so old caches are rebuilt."""


@dataclass
class SFTStats:
    """What an SFT run did: steps, trained (response) tokens, the final and first loss, wall and CPU seconds."""

    steps: int
    tokens: int
    response_tokens: int
    final_loss: float | None
    seconds: float
    cpu_seconds: float
    first_loss: float | None = None


@dataclass
class PrepareResult:
    """The outcome of ``prepare``: where things are, and whether the cache was used."""

    directory: Path
    key: str
    skipped: bool
    manifest: dict[str, Any] = field(default_factory=dict)


def needs_prepare(config: SRDConfig) -> bool:
    """Whether any model of ``config`` is a preset (and so must be built and trained)."""
    return _is_preset(config.teacher) or _is_preset(config.student)


def _is_preset(cfg: ModelConfig) -> bool:
    return cfg.path is None and cfg.preset is not None


def prepare_key(config: SRDConfig) -> str:
    """The content hash of everything that determines the prepared models (a bad preset fails here)."""
    return fingerprint(
        {
            "version": PREPARE_VERSION,
            "teacher": config.teacher.model_dump(mode="json"),
            "student": config.student.model_dump(mode="json"),
            "train": config.data.train.model_dump(mode="json"),
            "limit_train": config.data.limit_train,
            "max_prompt_tokens": config.data.max_prompt_tokens,
            "max_length": config.data.max_length,
            "prepare": _prepare_section(config),
            "architectures": {
                role: asdict(_preset_of(config, role))
                for role in ("teacher", "student")
                if _is_preset(getattr(config, role))
            },
            "path_models": {
                role: directory_digest(getattr(config, role).path)
                for role in ("teacher", "student")
                if not _is_preset(getattr(config, role))
            },
            "seed": _seed(config),
        }
    )


def _prepare_section(config: SRDConfig) -> dict[str, Any]:
    """``config.prepare`` as JSON, without fields added later at their off value (an SFT ``epochs`` left at
    null, ``student_lm`` null): a config without them keeps the key (and the prepared models) it had."""
    section = config.prepare.model_dump(mode="json")
    for role in ("teacher_sft", "student_sft"):
        if section[role].get("epochs") is None:
            section[role].pop("epochs", None)
    if section.get("student_lm") is None:
        section.pop("student_lm", None)
    return section


def sft_plan(config: SRDConfig, role: str, samples: int) -> str:
    """``teacher SFT: 25 steps (20 epochs of 40 samples, batch 32; at most 300)``: what prepare will train."""
    cfg: SFTConfig = getattr(config.prepare, f"{role}_sft")
    steps = cfg.steps_for(samples)
    label = "teacher SFT" if role == "teacher" else "student warm start"
    if cfg.epochs is None or cfg.steps == 0:
        how = f"prepare.{role}_sft.steps; {steps * cfg.batch_size / max(samples, 1):.1f} epochs of {samples} samples"
    else:
        how = f"{cfg.epochs:g} epochs of {samples} samples, batch {cfg.batch_size}; at most {cfg.steps}" + (
            ", reached" if steps == cfg.steps else ""
        )
    return f"{label}: {steps} steps ({how})"


CHARS_PER_TOKEN = 4.0
"""Characters per token of the console's estimate before the samples are encoded."""
ASSUMED_CPU_FLOPS = 2e10
"""Training FLOP/s of the preset sizes on a quiet 2-core CPU (tiny models run far below the hardware's peak;
measured on a 40-sample quick start: 1.8e10 FLOP per CPU second), for the dry run's estimate only."""


def sft_estimate_seconds(config: SRDConfig, role: str, samples: int, tokens_per_sample: float) -> float:
    """About how long ``role``'s SFT takes: 6 · parameters · tokens at ``ASSUMED_CPU_FLOPS`` (an estimate)."""
    cfg: SFTConfig = getattr(config.prepare, f"{role}_sft")
    steps = cfg.steps_for(samples)
    tokens = steps * min(cfg.batch_size, max(samples, 1)) * tokens_per_sample
    return 6 * approx_parameters(_preset_of(config, role), config.prepare.vocab_size) * tokens / ASSUMED_CPU_FLOPS


def _seed(config: SRDConfig) -> int:
    return config.prepare.seed if config.prepare.seed is not None else config.run.seed


def cached(run_dir: Path, key: str) -> dict[str, Any] | None:
    """The manifest of a complete prepared directory with this ``key``, else ``None``."""
    root = Path(run_dir) / PREPARED_DIR
    manifest_path = root / PREPARE_MANIFEST_FILE
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("key") != key:
        return None
    if not all((root / part / name).is_file() for part, name in _expected_files(manifest)):
        return None
    return manifest


def _expected_files(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    files = [(PREPARED_TOKENIZER_DIR, "tokenizer_config.json")]
    files += [(role, "config.json") for role in manifest.get("roles", [])]
    return files


def load_train_samples(config: SRDConfig) -> list[Sample]:
    """The training samples the preset models are trained on (``data.limit_train`` applied)."""
    return load_samples(config, "train")


def sft(
    model,
    tokenizer,
    samples: Sequence[Sample],
    cfg: SFTConfig,
    max_prompt_tokens: int,
    max_length: int,
    seed: int = 0,
    desc: str | None = None,
    on_step: Callable[[int], None] | None = None,
) -> SFTStats:
    """Fine-tune ``model`` on the samples' targets (cross-entropy on response tokens) for
    ``cfg.steps_for(len(samples))`` steps.

    ``on_step(step)`` is called after every optimizer step (1-based), e.g. to evaluate at intervals.
    """
    ensure_pad_token(tokenizer)
    examples = [encode_example(tokenizer, s.prompt, s.target, max_prompt_tokens, max_length) for s in samples]
    return train_examples(model, tokenizer, examples, cfg, seed=seed, desc=desc, on_step=on_step)


def train_examples(
    model,
    tokenizer,
    examples: Sequence[EncodedExample],
    cfg: SFTConfig,
    seed: int = 0,
    desc: str | None = None,
    on_step: Callable[[int], None] | None = None,
) -> SFTStats:
    """Train ``model`` for ``cfg.steps_for(len(examples))`` AdamW steps (cosine LR) of cross-entropy on the labels."""
    from transformers import get_cosine_schedule_with_warmup  # deferred: transformers

    start, cpu_start = time.perf_counter(), time.process_time()
    ensure_pad_token(tokenizer)
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.steps_for(len(examples))
    scheduler = get_cosine_schedule_with_warmup(optimizer, math.ceil(cfg.warmup_ratio * steps), steps)
    rng = random.Random(seed)
    order: list[int] = []
    tokens = response_tokens = 0
    losses: list[float] = []
    model.train()
    bar = tqdm(range(steps), desc=desc, disable=desc is None, unit="step")
    for _ in bar:
        if len(order) < cfg.batch_size:  # reshuffle every epoch; a batch may span two epochs
            epoch = list(range(len(examples)))
            rng.shuffle(epoch)
            order += epoch
        batch_ids, order = order[: cfg.batch_size], order[cfg.batch_size :]
        batch = collate_right_padded([examples[i] for i in batch_ids], tokenizer.pad_token_id)
        batch = {k: v.to(device) for k, v in batch.items()}
        loss = model(**batch).loss
        if not torch.isfinite(loss):
            raise SRDError(f"{desc or 'sft'}: non-finite loss; lower the learning rate")
        loss.backward()
        if cfg.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
        response_tokens += sum(examples[i].response_tokens for i in batch_ids)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if on_step is not None:
            on_step(len(losses))
            model.train()
    model.eval()
    tail = losses[-10:]
    return SFTStats(
        steps,
        tokens,
        response_tokens,
        sum(tail) / len(tail) if tail else None,
        time.perf_counter() - start,
        time.process_time() - cpu_start,
        _first_loss(losses),
    )


def _first_loss(losses: Sequence[float]) -> float | None:
    """The mean loss of the first ten steps (``None`` without steps): with ``final_loss``, whether it fell."""
    head = losses[:10]
    return sum(head) / len(head) if head else None


def _build_tokenizer(config: SRDConfig, samples: Sequence[Sample]):
    """A BPE tokenizer trained on the data when both models are presets, else the path model's tokenizer."""
    from srd_core.data.tokenizer_training import train_bpe_tokenizer  # deferred: transformers

    for role in ("teacher", "student"):
        cfg: ModelConfig = getattr(config, role)
        if cfg.path is not None and not _is_preset(cfg):
            return load_tokenizer(cfg, cfg.path, role), f"{role}:{cfg.path}"
    texts = [s.prompt + s.target for s in samples]
    tokenizer = train_bpe_tokenizer(
        texts, vocab_size=config.prepare.vocab_size, model_max_length=config.data.max_length
    )
    return tokenizer, "bpe"


def _preset_of(config: SRDConfig, role: str):
    """The size of ``role``'s preset with the ``prepare.<role>_arch`` overrides applied."""
    arch = getattr(config.prepare, f"{role}_arch").model_dump(exclude_none=True)
    arch.setdefault("max_position_embeddings", max(512, config.data.max_length))
    return resolve_preset(getattr(config, role).preset, arch, field_path=f"{role}.preset")


def _train_preset(
    config: SRDConfig, role: str, tokenizer, samples: Sequence[Sample], out_dir: Path, progress: bool
) -> dict[str, Any]:
    """Build the preset of ``role``, SFT it, save it to ``out_dir``; returns its manifest entry."""
    cfg: ModelConfig = getattr(config, role)
    preset = _preset_of(config, role)
    seed = _seed(config) + (0 if role == "teacher" else 1)
    model = build_model(preset, tokenizer, seed=seed)
    # transformers types PreTrainedModel.to through a decorator whose signature mypy misreads (self: str)
    model.to("cuda" if torch.cuda.is_available() else "cpu")  # type: ignore[arg-type]
    entry: dict[str, Any] = {"preset": cfg.preset, "arch": describe(preset), "parameters": count_parameters(model)}
    lm_cfg = config.prepare.student_lm if role == "student" else None
    if lm_cfg is not None:
        documents = lm_documents(tokenizer, samples, lm_cfg.corpus, config.data.max_length)
        entry["lm"] = asdict(
            train_examples(
                model, tokenizer, documents, lm_cfg, seed=seed, desc="student LM pretraining" if progress else None
            )
        )
    sft_cfg = getattr(config.prepare, f"{role}_sft")
    label = "teacher SFT" if role == "teacher" else "student warm start"
    chars = sum(len(s.prompt) + len(s.target) for s in samples) / max(len(samples), 1)
    seconds = sft_estimate_seconds(config, role, len(samples), chars / CHARS_PER_TOKEN)
    logger.info(
        "prepare: %s; about %.0f s (an estimate from the model size)", sft_plan(config, role, len(samples)), seconds
    )
    stats = sft(
        model,
        tokenizer,
        samples,
        sft_cfg,
        config.data.max_prompt_tokens,
        config.data.max_length,
        seed=seed,
        desc=label if progress else None,
    )
    save_model(model.to("cpu"), tokenizer, out_dir)  # type: ignore[arg-type]  # as model.to above
    return {**entry, "sft": asdict(stats)}


def prepare(config: SRDConfig, run_dir: str | Path | None = None, progress: bool = True) -> PrepareResult | None:
    """Build and train the preset models of ``config`` (skipped when cached); ``None`` if there are none."""
    if not needs_prepare(config):
        return None
    run_dir = Path(run_dir) if run_dir is not None else config.run.dir
    root = run_dir / PREPARED_DIR
    key = prepare_key(config)
    manifest = cached(run_dir, key)
    if manifest is not None:
        return PrepareResult(root, key, skipped=True, manifest=manifest)
    roles = [role for role in ("teacher", "student") if _is_preset(getattr(config, role))]
    start, cpu_start = time.perf_counter(), time.process_time()
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_dead_staging(run_dir)
    staging = run_dir / f".prepared.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        samples = load_train_samples(config)
        tokenizer, tokenizer_source = _build_tokenizer(config, samples)
        ensure_pad_token(tokenizer)
        tokenizer.save_pretrained(staging / PREPARED_TOKENIZER_DIR)
        models = {role: _train_preset(config, role, tokenizer, samples, staging / role, progress) for role in roles}
        manifest = {
            "key": key,
            "version": PREPARE_VERSION,
            "roles": roles,
            "tokenizer": {"source": tokenizer_source, "vocab_size": len(tokenizer)},
            "n_train": len(samples),
            "models": models,
            "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu_start,
        }
        write_json_atomic(staging / PREPARE_MANIFEST_FILE, manifest)
        _swap_in(staging, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PrepareResult(root, key, skipped=False, manifest=manifest)


def remove_dead_staging(run_dir: Path) -> list[Path]:
    """Delete the staging and swap directories of prepare runs whose process is gone (killed); return them."""
    removed = []
    for path in [*run_dir.glob(".prepared.tmp-*"), *run_dir.glob(".prepared.old-*")]:
        pid = path.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process is starting afresh: what it left earlier is stale too
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _swap_in(staging: Path, root: Path) -> None:
    """Replace ``root`` by ``staging`` with renames (the old directory is removed afterwards)."""
    old = root.with_name(f".{root.name}.old-{os.getpid()}")
    if root.exists():
        os.replace(root, old)
    os.replace(staging, root)
    shutil.rmtree(old, ignore_errors=True)
