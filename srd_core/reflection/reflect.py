"""The reflection pass: the initial student answers every training prompt and is scored on the reference.

Per sample: the student's generation (greedy by default), its teacher-forced cross-entropy on the
reference (token mean over response tokens, the encoding of ``srd_core.data.encoding``), the prompt hash
and token counts. Batches are planned once over all samples (length-bucketed) and dealt to
processes batch by batch, so a sample is computed in the same batch whatever the number of
processes: the result does not depend on it. Completed batches are appended to
``reflection.partial.jsonl``; a rerun skips them, and ``reflection.jsonl`` (data order, written
atomically) is reused while its cache key (data, student, generation settings, lengths) holds.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from srd_core.data.encoding import (
    IGNORE_INDEX,
    EncodedExample,
    collate_right_padded,
    encode_example,
    encode_prompt,
    ensure_pad_token,
)
from srd_core.data.samples import load_samples
from srd_core.fingerprints import data_fingerprint, model_identity
from srd_core.io import (
    append_jsonl,
    fingerprint,
    read_jsonl,
    sha256_text,
    write_json_atomic,
    write_jsonl_atomic,
)
from srd_core.launcher import drop_malformed_world_size
from srd_core.models.flops import forward_flops, parameter_count
from srd_core.models.generation import GenerationSettings, batch_order, generate, truncation_notice
from srd_core.models.lengths import MAX_NEW_TOKENS_CAP, with_generation_limits
from srd_core.models.loading import load_causal_lm, load_tokenizer, resolve_model_path
from srd_core.models.runtime import no_accelerator
from srd_core.rundir import REFLECTION_FILE, reflection_partial_file
from srd_core.rundir import REFLECTION_META_FILE as META_FILE
from srd_core.rundir import REFLECTION_PARTIAL_GLOB as PARTIAL_GLOB
from srd_core.types import ReflectionRecord, Sample

logger = logging.getLogger("srd.reflect")

FORMAT_VERSION = "reflection-v1"

BatchCallback = Callable[[list[ReflectionRecord]], None]


# ------------------------------------------------------------------------------------------- lengths


def prompt_limit(max_prompt_tokens: int, max_length: int) -> int:
    """Prompt tokens kept (cut from the left): the same limit as ``encode_example`` applies."""
    return min(max_prompt_tokens, max_length - 1)


def generation_settings(reflection_cfg, max_prompt_tokens: int, max_length: int, seed: int = 0) -> GenerationSettings:
    """Decoding settings from ``config.reflection``; new tokens also fit ``max_length`` after a full prompt."""
    room = max_length - prompt_limit(max_prompt_tokens, max_length)
    return GenerationSettings(
        max_new_tokens=max(1, min(reflection_cfg.max_new_tokens or MAX_NEW_TOKENS_CAP, room)),
        do_sample=reflection_cfg.do_sample,
        temperature=reflection_cfg.temperature,
        top_p=reflection_cfg.top_p,
        top_k=reflection_cfg.top_k,
        seed=seed,
        no_repeat_ngram_size=reflection_cfg.no_repeat_ngram_size,
    )


def plan_batches(
    tokenizer, samples: Sequence[Sample], batch_size: int, bucket_by_length: bool, max_prompt_tokens: int
) -> list[list[int]]:
    """Sample indices grouped into the batches every process agrees on."""
    lengths = [len(encode_prompt(tokenizer, s.prompt, max_prompt_tokens).input_ids) for s in samples]
    return batch_order(lengths, batch_size, bucket_by_length)


# ------------------------------------------------------------------------------------------- one batch


CE_TOKEN_BUDGET = {"cpu": 1024, "other": 8192}
"""Padded tokens per CE forward pass (rows sorted by length, cut into such chunks). On CPU, where a
forward pass is compute-bound, big padded batches only add work (measured: 8192 is ~1.6x slower
than 1024 on a tiny Llama); accelerators want large batches, bounded here for logits memory."""


def ce_token_budget(device: torch.device) -> int:
    """The CE chunk budget for ``device``."""
    return CE_TOKEN_BUDGET["cpu" if device.type == "cpu" else "other"]


def length_chunks(lengths: Sequence[int], token_budget: int) -> list[list[int]]:
    """Row indices, longest first, grouped so each group's rows x longest length fits ``token_budget``."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    chunks: list[list[int]] = []
    for i in order:
        if chunks and (len(chunks[-1]) + 1) * lengths[chunks[-1][0]] <= token_budget:
            chunks[-1].append(i)
        else:
            chunks.append([i])
    return chunks


def without_final_eos(example: EncodedExample, eos_token_id: int | None) -> EncodedExample:
    """``example`` with the label of its closing EOS token ignored (unchanged if the response has none)."""
    labels = example.labels
    if eos_token_id is None or not labels or labels[-1] != eos_token_id or example.response_tokens == 0:
        return example
    return replace(example, labels=[*labels[:-1], IGNORE_INDEX])


@torch.no_grad()
def response_ce(
    model,
    tokenizer,
    samples: Sequence[Sample],
    max_prompt_tokens: int,
    max_length: int,
    token_budget: int | None = None,
    exclude_eos: bool = False,
) -> list[tuple[float, int]]:
    """Per sample: (mean CE over reference-response tokens, number of those tokens).

    Teacher-forced forward passes over prompt + reference, right padded, in length-sorted chunks
    of at most ``token_budget`` padded tokens (default: ``ce_token_budget`` of the model's device).
    ``exclude_eos`` leaves the EOS token that ends the response out of the mean (the official code).
    """
    examples = [encode_example(tokenizer, s.prompt, s.target, max_prompt_tokens, max_length) for s in samples]
    if exclude_eos:
        examples = [without_final_eos(e, tokenizer.eos_token_id) for e in examples]
    device = next(model.parameters()).device
    token_budget = token_budget or ce_token_budget(device)
    results: list[tuple[float, int]] = [(0.0, 0)] * len(examples)
    for chunk in length_chunks([len(e.input_ids) for e in examples], token_budget):
        batch = collate_right_padded([examples[i] for i in chunk], tokenizer.pad_token_id)
        logits = model(
            input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)
        ).logits
        labels = batch["labels"][:, 1:].to(device)
        for row, index in enumerate(chunk):
            target = labels[row]
            count = int((target != IGNORE_INDEX).sum())
            total = F.cross_entropy(logits[row, :-1].float(), target, ignore_index=IGNORE_INDEX, reduction="sum")
            results[index] = (float(total) / max(count, 1), count)
    return results


def reflect_batch(
    model,
    tokenizer,
    samples: Sequence[Sample],
    settings: GenerationSettings,
    max_prompt_tokens: int,
    max_length: int,
    exclude_eos: bool = False,
) -> list[ReflectionRecord]:
    """Reflection records of one planned batch (generation in this batch, then the CE pass)."""
    limit = prompt_limit(max_prompt_tokens, max_length)
    generations = generate(
        model,
        tokenizer,
        [s.prompt for s in samples],
        settings,
        max_prompt_tokens=limit,
        batch_size=len(samples),
        bucket_by_length=False,
        progress=None,
    )
    ces = response_ce(model, tokenizer, samples, max_prompt_tokens, max_length, exclude_eos=exclude_eos)
    return [
        ReflectionRecord(
            id=s.id,
            prompt_hash=sha256_text(s.prompt),
            output=g.text,
            ce=ce,
            prompt_tokens=g.prompt_tokens,
            response_tokens=n_response,
            output_tokens=g.output_tokens,
            prompt_truncated=g.prompt_truncated,
        )
        for s, g, (ce, n_response) in zip(samples, generations, ces, strict=True)
    ]


# ------------------------------------------------------------------------------------------- all samples


def _rank_world(accelerator) -> tuple[int, int]:
    if accelerator is None:
        return 0, 1
    return accelerator.process_index, accelerator.num_processes


def reflect_samples(
    model,
    tokenizer,
    samples: Sequence[Sample],
    reflection_cfg,
    max_prompt_tokens: int,
    max_length: int,
    accelerator=None,
    progress: bool = True,
    seed: int = 0,
    done: Mapping[str, ReflectionRecord] | None = None,
    on_batch: BatchCallback | None = None,
) -> list[ReflectionRecord]:
    """One ``ReflectionRecord`` per sample, in the order of ``samples``.

    ``done`` holds records of a previous, interrupted pass (by id): batches fully covered by it
    are not recomputed. Each process takes every ``world``-th remaining batch; results are
    gathered on every process. ``on_batch`` sees each newly computed batch (e.g. to append it to
    the partial file). Sampling, when enabled, is seeded per batch from ``seed``.
    """
    ensure_pad_token(tokenizer)
    done = dict(done or {})
    rank, world = _rank_world(accelerator)
    settings = generation_settings(reflection_cfg, max_prompt_tokens, max_length, seed)
    batches = plan_batches(
        tokenizer,
        samples,
        reflection_cfg.batch_size,
        reflection_cfg.bucket_by_length,
        prompt_limit(max_prompt_tokens, max_length),
    )
    pending = [b for b in batches if not all(samples[i].id in done for i in b)]
    mine = pending[rank::world]
    was_training = model.training
    model.eval()
    computed: list[tuple[int, ReflectionRecord]] = []
    bar = tqdm(total=sum(len(b) for b in mine), desc="reflection", unit="sample", disable=not progress or rank != 0)
    for batch in mine:
        batch_settings = replace(settings, seed=settings.seed * 1_000_003 + batch[0])
        records = reflect_batch(
            model,
            tokenizer,
            [samples[i] for i in batch],
            batch_settings,
            max_prompt_tokens,
            max_length,
            exclude_eos=reflection_cfg.ce_exclude_eos,
        )
        if on_batch is not None:
            on_batch(records)
        computed.extend(zip(batch, records, strict=True))
        bar.update(len(batch))
    bar.close()
    model.train(was_training)
    if world > 1:
        from accelerate.utils import gather_object  # deferred: accelerate

        computed = gather_object(computed)
    by_index: dict[int, ReflectionRecord] = dict(computed)
    result = []
    for i, sample in enumerate(samples):
        record = by_index.get(i) or done.get(sample.id)
        if record is None:  # cannot happen: every sample is in a planned batch
            raise RuntimeError(f"reflection: sample {sample.id!r} was not computed")
        result.append(record)
    return result


# ------------------------------------------------------------------------------------------- cache key


def reflection_key(
    samples: Sequence[Sample],
    student: dict[str, Any],
    reflection_cfg,
    max_prompt_tokens: int,
    max_length: int,
    seed: int,
) -> dict[str, Any]:
    """Everything the reflection result depends on (not the number of processes)."""
    settings = asdict(generation_settings(reflection_cfg, max_prompt_tokens, max_length, seed))
    if not settings["do_sample"]:  # greedy decoding ignores these
        for name in ("temperature", "top_p", "top_k", "seed"):
            settings.pop(name)
    if not settings["no_repeat_ngram_size"]:  # off: keys of runs made before the option stay valid
        settings.pop("no_repeat_ngram_size")
    settings.update(batch_size=reflection_cfg.batch_size, bucket_by_length=reflection_cfg.bucket_by_length)
    if reflection_cfg.ce_exclude_eos:
        settings["ce_exclude_eos"] = True
    return {
        "version": FORMAT_VERSION,
        "data": data_fingerprint(samples),
        "n_samples": len(samples),
        "student": student,
        "generation": settings,
        "max_prompt_tokens": max_prompt_tokens,
        "max_length": max_length,
    }


def run_reflection_key(config, run_dir: str | Path, samples: Sequence[Sample]) -> dict[str, Any]:
    """The reflection key of a run dir: a prepared student is named relative to the run dir, so a copy
    of ``prepared/`` (same files, sizes and mtimes) in another run dir keeps its reflection."""
    name = resolve_model_path(config.student, Path(run_dir), "student")
    identity = model_identity(name, config.student)
    if config.student.path is None:
        identity["path"] = "prepared/student"
    return reflection_key(
        samples, identity, config.reflection, config.data.max_prompt_tokens, config.data.max_length, config.run.seed
    )


# ------------------------------------------------------------------------------------------- run dir


@dataclass
class ReflectionSummary:
    """How the reflection pass went."""

    samples: int
    computed: int
    resumed: int
    reused: bool
    seconds: float
    truncated: int
    path: str
    main: bool = True

    @property
    def samples_per_s(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        """A one-line human summary."""
        if self.reused:
            return f"reflection: reused {self.path} ({self.samples} samples, cache key unchanged)"
        resumed = f", {self.resumed} resumed from the partial file" if self.resumed else ""
        return (
            f"reflection: {self.samples} samples ({self.computed} computed{resumed}) in {self.seconds:.1f} s, "
            f"{self.samples_per_s:.2f} samples/s, {self.truncated} prompts truncated -> {self.path}"
        )


@dataclass
class ReflectionResult:
    """The reflection records (data order) and the summary of the pass."""

    records: list[ReflectionRecord]
    summary: ReflectionSummary


def partial_path(run_dir: Path, rank: int) -> Path:
    """Where process ``rank`` appends its completed batches."""
    name = reflection_partial_file(rank)
    return Path(run_dir) / name


def read_partials(run_dir: Path, key: str) -> dict[str, ReflectionRecord]:
    """Records of every partial file written under ``key`` (a torn last line is ignored)."""
    done: dict[str, ReflectionRecord] = {}
    for path in sorted(Path(run_dir).glob(PARTIAL_GLOB)):
        for row in read_jsonl(path, tolerate_torn_tail=True):
            if row.get("key") == key:
                record = ReflectionRecord.from_dict(row["record"])
                done[record.id] = record
    return done


def compact_partial(path: Path, key: str) -> None:
    """Rewrite a partial file with only complete rows of ``key`` (drops a torn tail before appending)."""
    if path.is_file():
        rows = [r for r in read_jsonl(path, tolerate_torn_tail=True) if r.get("key") == key]
        write_jsonl_atomic(path, rows)


def load_cached(run_dir: Path, samples: Sequence[Sample], key: str) -> list[ReflectionRecord] | None:
    """The records of ``reflection.jsonl`` if its meta holds ``key`` and it covers ``samples`` in order."""
    meta_path, data_path = Path(run_dir) / META_FILE, Path(run_dir) / REFLECTION_FILE
    if not (meta_path.is_file() and data_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        records = [ReflectionRecord.from_dict(r) for r in read_jsonl(data_path)]
    except (ValueError, KeyError, TypeError):
        return None
    if meta.get("key") != key or [r.id for r in records] != [s.id for s in samples]:
        return None
    return records


def default_accelerator():
    """An ``Accelerator`` that goes multi-process (gloo) under torchrun even when only the CPU is there."""
    from accelerate import Accelerator  # deferred: accelerate

    drop_malformed_world_size()
    return Accelerator(cpu=no_accelerator())


def _barrier(accelerator) -> None:
    if accelerator is not None and accelerator.num_processes > 1:
        accelerator.wait_for_everyone()


def reflection_compute(student_params: int, records: Sequence[ReflectionRecord]) -> dict[str, int]:
    """The pass's compute (``srd_core.models.flops``): a student forward per token of generation (prompt +
    generated tokens) and of the CE pass (prompt + reference response), every sample counted once."""
    generation = sum(r.prompt_tokens + r.output_tokens for r in records)
    ce = sum(r.prompt_tokens + r.response_tokens for r in records)
    return {
        "student_params": student_params,
        "generation_tokens": generation,
        "ce_tokens": ce,
        "flops": forward_flops(student_params, generation + ce),
    }


def run_reflection(config, run_dir: str | Path, accelerator=None, progress: bool = True) -> ReflectionResult:
    """The reflection phase of a run: load data and student, reuse or resume, write the artifacts."""
    run_dir = Path(run_dir)
    config = with_generation_limits(config, run_dir)  # an unset max_new_tokens follows the data
    accelerator = accelerator if accelerator is not None else default_accelerator()
    rank, _ = _rank_world(accelerator)
    main = rank == 0
    samples = load_samples(config, "train")
    name = resolve_model_path(config.student, run_dir, "student")
    data_cfg, refl_cfg = config.data, config.reflection
    key_obj = run_reflection_key(config, run_dir, samples)
    key = fingerprint(key_obj)
    out_path = run_dir / REFLECTION_FILE

    cached = load_cached(run_dir, samples, key)
    _barrier(accelerator)  # nobody rewrites the artifacts before every process checked them
    if cached is not None:
        summary = ReflectionSummary(
            len(samples), 0, 0, True, 0.0, sum(r.prompt_truncated for r in cached), str(out_path), main
        )
        return ReflectionResult(cached, summary)

    tokenizer = load_tokenizer(config.student, name, "student")
    model = load_causal_lm(config.student, name, "student").to(accelerator.device)

    own_partial = partial_path(run_dir, rank)
    run_dir.mkdir(parents=True, exist_ok=True)
    compact_partial(own_partial, key)
    _barrier(accelerator)
    ids = {s.id for s in samples}
    done = {k: v for k, v in read_partials(run_dir, key).items() if k in ids}
    _barrier(accelerator)  # every process planned from the same `done` before anyone appends

    def append(records: list[ReflectionRecord]) -> None:
        append_jsonl(own_partial, [{"key": key, "record": r.to_dict()} for r in records])

    start = time.perf_counter()
    records = reflect_samples(
        model,
        tokenizer,
        samples,
        refl_cfg,
        data_cfg.max_prompt_tokens,
        data_cfg.max_length,
        accelerator=accelerator,
        progress=progress,
        seed=config.run.seed,
        done=done,
        on_batch=append,
    )
    seconds = time.perf_counter() - start
    resumed = sum(1 for s in samples if s.id in done)
    summary = ReflectionSummary(
        len(samples),
        len(samples) - resumed,
        resumed,
        False,
        seconds,
        sum(r.prompt_truncated for r in records),
        str(out_path),
        main,
    )
    if main:
        write_jsonl_atomic(out_path, [r.to_dict() for r in records])
        write_json_atomic(
            run_dir / META_FILE,
            {
                "key": key,
                "key_parts": key_obj,
                "summary": {
                    "samples": summary.samples,
                    "computed": summary.computed,
                    "resumed": resumed,
                    "seconds": round(seconds, 3),
                    "samples_per_s": round(summary.samples_per_s, 3),
                    "truncated": summary.truncated,
                    "processes": accelerator.num_processes,
                },
                "compute": reflection_compute(parameter_count(model), records),
            },
        )
        for path in run_dir.glob(PARTIAL_GLOB):
            path.unlink()
        logger.info(summary.describe())
        notice = truncation_notice("reflection", summary.truncated, summary.samples, data_cfg.max_prompt_tokens)
        if notice:
            logger.warning(notice)
    _barrier(accelerator)
    return ReflectionResult(records, summary)
