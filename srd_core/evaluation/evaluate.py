"""Generation-based evaluation: ROUGE-L ×100 of a model's answers on the held-out samples.

Two protocols (``eval.protocol``): ``greedy`` (one deterministic pass) and ``distillm``, the
DistiLLM/SRD protocol (sampling at T = 1 with top-p 1 and no top-k, one pass per seed in
``eval.seeds``, reported as mean and sample standard deviation over the seeds). Final results are
rows of ``run_dir/eval.jsonl``, one per model label, rewritten atomically.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from srd_core.arms import arm_names
from srd_core.config import EvalConfig, SRDConfig
from srd_core.data.samples import load_samples
from srd_core.errors import DataError, SRDError
from srd_core.evaluation.rouge import rouge_l
from srd_core.io import read_jsonl, write_jsonl_atomic
from srd_core.models.generation import GenerationSettings, generate
from srd_core.models.lengths import MAX_NEW_TOKENS_CAP, with_generation_limits
from srd_core.models.loading import load_causal_lm, load_tokenizer, resolve_model_path
from srd_core.rundir import FINAL_DIR
from srd_core.types import Sample

"""Named models of a run; anything else given to ``--model`` is a path to a model directory."""

Generator = Callable[[Sequence[str], GenerationSettings], list[str]]
"""Answers a list of prompts under the given settings (the model call, replaceable in tests)."""


@dataclass
class EvalResult:
    """One model's evaluation: mean ROUGE-L ×100, sd over seeds, per-seed and per-family scores."""

    score: float
    sd: float
    per_seed: dict[str, float]
    n: int
    protocol: str
    per_family: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    greedy: float | None = None
    """The greedy pass's score (the score itself under ``greedy``; ``with_greedy`` adds it to ``distillm``)."""
    prompts_truncated: int = 0
    """Eval prompts longer than ``data.max_prompt_tokens``, cut from the left before generation."""
    predictions: list[str] = field(default_factory=list, repr=False)

    def to_row(self, model: str, **extra: Any) -> dict[str, Any]:
        """The eval.jsonl row for ``model`` (predictions left out), with ``extra`` fields added."""
        row = {"model": model, **asdict(self)}
        row.pop("predictions")
        row["time"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        row.update(extra)
        return row


def settings_for(eval_cfg: EvalConfig) -> list[tuple[str, GenerationSettings]]:
    """(label, settings) for each pass the protocol makes: one greedy pass, or one sampled pass per seed.

    ``distillm`` with ``with_greedy`` adds a greedy pass labelled ``greedy``, scored apart from the seeds.
    """
    ngram = eval_cfg.no_repeat_ngram_size
    new_tokens = eval_cfg.max_new_tokens or MAX_NEW_TOKENS_CAP  # unset: the pipeline fills it in from the data
    greedy = ("greedy", GenerationSettings(max_new_tokens=new_tokens, no_repeat_ngram_size=ngram))
    if eval_cfg.protocol == "greedy":
        return [greedy]
    sampled = [
        (
            str(seed),
            GenerationSettings(
                max_new_tokens=new_tokens,
                do_sample=True,
                temperature=1.0,
                top_p=1.0,
                top_k=0,
                seed=seed,
                no_repeat_ngram_size=ngram,
            ),
        )
        for seed in eval_cfg.seeds
    ]
    return sampled + ([greedy] if eval_cfg.with_greedy else [])


def score_predictions(samples: Sequence[Sample], predictions: Sequence[str]) -> tuple[float, dict[str, float]]:
    """Mean ROUGE-L ×100 over samples, and the same per ``meta["family"]`` when samples have one."""
    if len(samples) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(samples)} samples")
    scores = [100.0 * rouge_l(p, s.references) for s, p in zip(samples, predictions, strict=True)]
    by_family: dict[str, list[float]] = defaultdict(list)
    for sample, value in zip(samples, scores, strict=True):
        if "family" in sample.meta:
            by_family[str(sample.meta["family"])].append(value)
    families = {name: statistics.fmean(values) for name, values in sorted(by_family.items())}
    return (statistics.fmean(scores) if scores else 0.0), families


def evaluate_with(generator: Generator, samples: Sequence[Sample], eval_cfg: EvalConfig) -> EvalResult:
    """Evaluate any answer function on ``samples`` under ``eval_cfg``'s protocol."""
    samples = list(samples)[: eval_cfg.max_samples] if eval_cfg.max_samples else list(samples)
    if not samples:
        raise DataError("evaluation: no eval samples")
    start = time.perf_counter()
    prompts = [s.prompt for s in samples]
    per_seed: dict[str, float] = {}
    family_runs: list[dict[str, float]] = []
    first_predictions: list[str] = []
    for label, settings in settings_for(eval_cfg):
        predictions = generator(prompts, settings)
        per_seed[label], families = score_predictions(samples, predictions)
        family_runs.append(families)
        first_predictions = first_predictions or list(predictions)
    greedy = per_seed.pop("greedy", None) if eval_cfg.protocol == "distillm" else per_seed.get("greedy")
    if eval_cfg.protocol == "distillm" and greedy is not None:
        family_runs = family_runs[:-1]  # the greedy pass is last: seeds alone make the mean
    values = list(per_seed.values())
    per_family = {name: statistics.fmean(run[name] for run in family_runs) for name in family_runs[0]}
    return EvalResult(
        score=statistics.fmean(values),
        sd=statistics.stdev(values) if len(values) > 1 else 0.0,
        per_seed=per_seed,
        n=len(samples),
        protocol=eval_cfg.protocol,
        per_family=per_family,
        wall_s=time.perf_counter() - start,
        greedy=greedy,
        predictions=first_predictions,
    )


def evaluate_model(
    model,
    tokenizer,
    samples: Sequence[Sample],
    eval_cfg: EvalConfig,
    max_prompt_tokens: int,
    progress: str | None = None,
) -> EvalResult:
    """Generate with ``model`` on ``samples`` and score ROUGE-L ×100 (the training loop calls this too)."""

    truncated: list[int] = []

    def generator(prompts: Sequence[str], settings: GenerationSettings) -> list[str]:
        outputs = generate(
            model,
            tokenizer,
            prompts,
            settings,
            max_prompt_tokens=max_prompt_tokens,
            batch_size=eval_cfg.batch_size,
            progress=progress,
        )
        truncated.append(sum(g.prompt_truncated for g in outputs))
        return [g.text for g in outputs]

    result = evaluate_with(generator, samples, eval_cfg)
    result.prompts_truncated = max(truncated, default=0)  # every pass sees the same prompts
    return result


def load_eval_samples(config: SRDConfig) -> list[Sample]:
    """The held-out samples: ``data.eval``'s eval split, else the eval split of ``data.train``'s task."""
    return load_samples(config, "eval")


def model_location(config: SRDConfig, run_dir: Path, which: str) -> tuple[str, str, str]:
    """(label, path, role) of ``which``: teacher, student (initial), an arm of the run (srd, baseline, ...), or a
    model directory."""
    run_dir = Path(run_dir)
    if which == "teacher":
        return "teacher", resolve_model_path(config.teacher, run_dir, "teacher"), "teacher"
    if which == "student":
        return "student_init", resolve_model_path(config.student, run_dir, "student"), "student"
    arms = arm_names(config)
    if which in arms:
        final = run_dir / which / FINAL_DIR
        if not (final / "config.json").is_file():
            raise SRDError(f"--model {which}: {final} has no trained model yet (train it first)")
        return which, str(final), "student"
    if not (Path(which) / "config.json").is_file():
        raise SRDError(
            f"--model {which!r}: expected one of {', '.join(['teacher', 'student', *arms])} or a model directory "
            "with config.json"
        )
    return str(which), str(which), "student"


def evaluate_run_model(
    config: SRDConfig, run_dir: Path, which: str, samples: Sequence[Sample] | None = None, progress: bool = True
) -> tuple[str, EvalResult]:
    """Load ``which`` (see ``model_location``), evaluate it on the eval samples; returns (label, result)."""
    label, path, role = model_location(config, run_dir, which)
    config = with_generation_limits(config, run_dir)
    model_cfg = config.teacher if role == "teacher" else config.student
    tokenizer = load_tokenizer(model_cfg, path, role)
    model = load_causal_lm(model_cfg, path, role)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    samples = list(samples) if samples is not None else load_eval_samples(config)
    result = evaluate_model(
        model,
        tokenizer,
        samples,
        config.eval,
        config.data.max_prompt_tokens,
        progress=f"eval {label}" if progress else None,
    )
    return label, result


def write_eval_row(path: str | Path, row: dict[str, Any]) -> None:
    """Add ``row`` to eval.jsonl, replacing an earlier row of the same ``model`` (atomic rewrite)."""
    path = Path(path)
    rows = read_jsonl(path, tolerate_torn_tail=True) if path.is_file() else []
    rows = [r for r in rows if r.get("model") != row["model"]] + [row]
    write_jsonl_atomic(path, rows)
