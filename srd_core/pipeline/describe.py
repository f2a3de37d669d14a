"""What `srd run --dry-run` says about each phase: the details of its phase list (``Phase.describe``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srd_core.arms import arm_names, resolve_arms
from srd_core.config import SRDConfig
from srd_core.curation.remainder import remainder_notice
from srd_core.models.lengths import HEADROOM, MARGIN, MAX_NEW_TOKENS_CAP, derived_max_new_tokens
from srd_core.plugins import get_component
from srd_core.rundir import CURATION_FILE


def _tokens(value: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return f"{value:.0f}"


def _new_tokens(config: SRDConfig, run_dir: Path, section: str) -> str:
    """``<= 40 new tokens (from the data: ...)``: the limit ``section`` sets, or the one the data gives."""
    limit = getattr(config, section).max_new_tokens
    if limit is not None:
        return f"<= {limit} new tokens"
    found = derived_max_new_tokens(config, run_dir, local_only=True)  # the dry run loads nothing from the hub
    if found is not None:
        return f"<= {found[0]} new tokens (from the data: longest training reference {found[1]} tokens)"
    return (
        f"<= the longest training reference x {HEADROOM:g} + {MARGIN} new tokens, at most {MAX_NEW_TOKENS_CAP} "
        "(from the data, once prepare has made the student's tokenizer)"
    )


def _prepare_detail(config: SRDConfig, data: Any) -> str:
    """What prepare trains, and about how long it takes (an estimate from the model sizes)."""
    from srd_core.models.prepare import sft_estimate_seconds, sft_plan  # deferred: torch

    presets = [r for r in ("teacher", "student") if getattr(config, r).preset is not None]
    if not presets:
        return "skipped: teacher and student are given by path"
    n = int(data.samples.value)
    plans = [sft_plan(config, role, n) for role in presets]
    seconds = sum(sft_estimate_seconds(config, role, n, data.tokens.value) for role in presets)
    return (
        f"build and SFT the presets of {', '.join(presets)}: {'; '.join(plans)}; about {_duration(seconds)} "
        "on a 2-core CPU (ESTIMATE from the model sizes)"
    )


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _eval_detail(config: SRDConfig, sets: list[str], run_dir: Path) -> str:
    models = ["teacher", "student_init", *arm_names(config)]
    passes = 1 if config.eval.protocol == "greedy" else len(config.eval.seeds)
    how = "greedy" if config.eval.protocol == "greedy" else f"{passes} sampled passes (seeds {config.eval.seeds})"
    return (
        f"{len(models)} models ({', '.join(models)}) x {len(sets)} sets ({', '.join(sets)}), {how}, "
        f"{_new_tokens(config, run_dir, 'eval')}; ROUGE-L x100"
    )


def _curation_detail(config: SRDConfig, n: int, n_keep: int, bins: list[list[str]] | None, folder: Path) -> str:
    c = config.curriculum
    metrics = ", ".join(m.name for m in c.metrics)
    sizes = "/".join(f"{len(b):,}" for b in bins) if bins is not None else "n/a"
    curation = (
        f"{metrics} -> {c.fusion.name} -> {c.selector.name} keeps {n_keep:,} of {n:,} -> {c.pacer.name} bins {sizes}"
    )
    if c.stratify:
        curation += f" (within each group of {c.groups.name})"
    if (folder / CURATION_FILE).is_file():
        curation += " (curation.jsonl exists: bins as recorded)"
    notice = remainder_notice(n_keep, [len(b) for b in bins], c.pacer.params) if bins is not None else None
    if notice:
        curation += f"; {notice}"
    return curation


# ------------------------------------------------------------------------------------------ the phases' rows


@dataclass
class PlanView:
    """What the dry run knows when it describes the phases (``srd_core.pipeline.dry_run.plan_run``)."""

    config: SRDConfig
    run_dir: Path
    data: Any
    """The training data as counted or estimated (samples, tokens per sample)."""
    n_keep: int
    bins: list[list[str]] | None
    arms: dict[str, Any]
    """Every arm's planned training (``TrainingPlan``), in run order."""
    curations: dict[str, str] = field(default_factory=dict)
    """Arm → the detail of its own curation (arms whose curriculum differs)."""


Rows = list[tuple[str, str]]
"""(name, detail) rows of the dry run's phase list."""


def describe_prepare(view: PlanView) -> Rows:
    return [("prepare", _prepare_detail(view.config, view.data))]


def describe_reflect(view: PlanView) -> Rows:
    config, run_dir = view.config, view.run_dir
    n = int(view.data.samples.value)
    r = config.reflection
    decode = "sampled" if r.do_sample else "greedy"
    reflection = (
        f"{n:,} {decode} student generations ({math.ceil(n / r.batch_size):,} batches of {r.batch_size}, "
        f"{_new_tokens(config, run_dir, 'reflection')}) + teacher-forced CE"
    )
    return [("reflection", reflection)]


def describe_curate(view: PlanView) -> Rows:
    n = int(view.data.samples.value)
    return [("curation", _curation_detail(view.config, n, view.n_keep, view.bins, view.run_dir))]


def describe_curate_arm(owner: str) -> Callable[[PlanView], Rows]:
    return lambda view: [(f"curation {owner}", view.curations[owner])]


def describe_teacher_cache(view: PlanView) -> Rows:
    cached = [
        f"{arm.teacher_signal_field.rsplit('.', 1)[0]}: {arm.teacher_signal.name}"
        for arm in resolve_arms(view.config).values()
        if get_component("teacher_signal", arm.teacher_signal.name, **arm.teacher_signal.params).cached
    ]
    if not cached:
        return []
    return [
        (
            "teacher cache",
            "the teacher once over every sample an arm trains on (" + ", ".join(dict.fromkeys(cached)) + ")",
        )
    ]


def describe_train(label: str) -> Callable[[PlanView], Rows]:
    def rows(view: PlanView) -> Rows:
        plan = view.arms.get(label)
        if plan is None:  # the default run's disabled baseline
            return [(f"train {label}", f"skipped ({label}.enabled: false)")]
        stages = f"{len(plan.stages)} stages" if label == "srd" else f"{len(plan.stages)} stage(s)"
        return [(f"train {label}", f"{stages}, {plan.steps:,} optimizer steps, ~{_tokens(plan.tokens)} tokens")]

    return rows


def describe_evaluate(view: PlanView) -> Rows:
    config, run_dir = view.config, view.run_dir
    held_out = f"{(config.data.eval or config.data.train).name} eval split"
    rows = [("evaluate", _eval_detail(config, [held_out], run_dir))]
    if config.eval.sets:  # not a phase of `srd run`: what its models go on to
        rows.append(("evaluate sets", "`srd evaluate-sets`: " + _eval_detail(config, list(config.eval.sets), run_dir)))
    return rows


def describe_report(view: PlanView) -> Rows:
    return [("report", "report.html + plots" if view.config.report.enabled else "skipped (report.enabled: false)")]
