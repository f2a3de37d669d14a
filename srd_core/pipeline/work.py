"""What `srd run` does in each phase (``Phase.work``) and once a step is over (``Phase.then``).

Each work function takes the ``RunContext`` of the run and computes its phase's artifact; the dependency rule
(skip when complete, set aside when stale, records) is the driver's (``srd_core.pipeline.run``), not theirs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srd_core.arms import arm_of, config_for_curation, curation_dir
from srd_core.config import SRDConfig, dump_config
from srd_core.curation.curate import run_curation
from srd_core.curation.diagnostics import log_group_table
from srd_core.data.samples import load_samples
from srd_core.io import read_jsonl, write_jsonl_atomic, write_text_atomic
from srd_core.pipeline.arms import train_arms_in_parallel
from srd_core.rundir import CONFIG_FILE, EVAL_FILE, REPORT_FILE, SAMPLES_META_FILE
from srd_core.training.trackers import log_final_scores

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What `srd run` did: seconds per phase (None = skipped as complete) and the final scores."""

    run_dir: Path
    phases: dict[str, float | None] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    report: Path | None = None


@dataclass
class RunContext:
    """One `srd run` as its phases see it."""

    config: SRDConfig
    run_dir: Path
    accelerator: Any
    main: bool
    """Whether this is the main process (torchrun starts several)."""
    consistent: Callable[[tuple[str, ...]], bool]
    """Whether every recorded artifact matches the config, but for the phases named (``planner.consistent``)."""
    result: RunResult
    samples: list | None = None
    """The training samples (loaded once prepare has made what they need)."""
    eval_samples: list | None = None
    """The held-out samples, once loaded."""
    warned: set[str] = field(default_factory=set)
    """Notices said once per run (the evaluation's truncated prompts)."""


def write_samples_meta(run_dir: Path, samples) -> None:
    """Analysis-only metadata of the training samples (family, noisy) for the report."""
    rows = [{"id": s.id, **{k: v for k, v in s.meta.items() if k in ("family", "noisy")}} for s in samples]
    write_jsonl_atomic(run_dir / SAMPLES_META_FILE, rows)


# ------------------------------------------------------------------------------------------ the phases' work


def prepare(run: RunContext) -> Any:
    """Build and SFT the preset models (main process; the others wait); the main process returns what it did."""
    from srd_core.models.prepare import prepare as prepare_models  # deferred: torch

    done = prepare_models(run.config, run.run_dir) if run.main else None
    run.accelerator.wait_for_everyone()
    return done


def after_prepare(run: RunContext, did_work: bool) -> None:
    """The training samples (a chat template may need prepare's tokenizer) and their metadata for the report."""
    if run.samples is None:
        run.samples = load_samples(run.config, "train")
    if run.main:
        write_samples_meta(run.run_dir, run.samples)


def reflect(run: RunContext) -> Any:
    """The initial student answers every training prompt."""
    from srd_core.reflection.reflect import run_reflection  # deferred: torch

    return run_reflection(run.config, run.run_dir, accelerator=run.accelerator)


def _curate(run: RunContext, config: SRDConfig, out_dir: Path | None = None) -> Any:
    """The curation (main process; the others wait), its per-group table logged; the main process returns it."""
    curation = None
    if run.main:
        curation = run_curation(config, run.run_dir, samples=run.samples, out_dir=out_dir)
        log_group_table(config, curation)
    run.accelerator.wait_for_everyone()
    return curation


def curate(run: RunContext) -> Any:
    """The curation of the curriculum section (curation.jsonl)."""
    return _curate(run, run.config)


def curate_arm(owner: str) -> Callable[[RunContext], Any]:
    """The curation of arm ``owner``, whose curriculum differs (``curation-<owner>/``)."""

    def work(run: RunContext) -> Any:
        arm = arm_of(run.config, owner)
        return _curate(run, config_for_curation(run.config, arm), curation_dir(run.run_dir, arm))

    return work


def teacher_cache(run: RunContext) -> None:
    """The teacher's rows for every sample an arm trains on, computed once."""
    from srd_core.training.teacher_cache import build_teacher_caches  # deferred: torch

    assert run.samples is not None  # loaded before the first phase that trains
    build_teacher_caches(run.config, run.run_dir, run.samples, run.accelerator)


def train(label: str) -> Callable[[RunContext], Any]:
    """Train arm ``label``; returns the run's summary."""

    def work(run: RunContext) -> Any:
        from srd_core.training.loop import rouge_eval_fn  # deferred: torch
        from srd_core.training.loop import train as train_arm  # deferred: torch

        eval_fn = rouge_eval_fn(run.config, run.run_dir) if run.config.train.eval_every and run.main else None
        return train_arm(run.config, run.run_dir, label, samples=run.samples, eval_fn=eval_fn)

    return work


def train_in_parallel(run: RunContext, phases: list[str]) -> dict[str, float]:
    """Train the arms of the ``train_<arm>`` phases at once, each in its own process; seconds by phase."""
    seconds = train_arms_in_parallel(run.config, run.run_dir, [p[len("train_") :] for p in phases])
    return {f"train_{arm}": value for arm, value in seconds.items()}


def evaluate(label: str) -> Callable[[RunContext], Any]:
    """Final ROUGE-L of model ``label`` (teacher, student_init, an arm, or a model directory) into eval.jsonl;
    returns (its row's label, the ``EvalResult``)."""
    which = {"student_init": "student"}.get(label, label)

    def work(run: RunContext) -> Any:
        # deferred: torch
        from srd_core.evaluation.evaluate import evaluate_run_model, load_eval_samples, write_eval_row
        from srd_core.models.generation import truncation_notice  # deferred: torch

        config = run.config
        if run.eval_samples is None:
            run.eval_samples = load_eval_samples(config)
        label, result = evaluate_run_model(config, run.run_dir, which, samples=run.eval_samples)
        write_eval_row(run.run_dir / EVAL_FILE, result.to_row(label))
        logger.info("eval %s: ROUGE-L %.2f", label, result.score)
        notice = truncation_notice("evaluation", result.prompts_truncated, result.n, config.data.max_prompt_tokens)
        if notice and "evaluation" not in run.warned:  # the same prompts for every model: said once
            logger.warning(notice)
            run.warned.add("evaluation")
        return label, result

    return work


def after_evaluate(run: RunContext, did_work: bool) -> None:
    """The final scores to the trackers of train.log_with once known; config.yaml once the artifacts match it."""
    if did_work:
        log_final_scores(run.config, run.run_dir, read_jsonl(run.run_dir / EVAL_FILE, tolerate_torn_tail=True))
    if run.consistent(("report",)):  # config.yaml describes the artifacts: written once they match
        write_text_atomic(run.run_dir / CONFIG_FILE, dump_config(run.config))


def report(run: RunContext) -> None:
    """report.html and the plots."""
    from srd_core.report.build import write_report  # deferred: matplotlib

    write_report(run.run_dir)


def after_report(run: RunContext, did_work: bool) -> None:
    run.result.report = run.run_dir / REPORT_FILE
