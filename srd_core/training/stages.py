"""What a training run trains on: the label's pacer and schedules, stage plans, step counts.

Label "srd" uses ``curriculum.pacer`` with ``train.temperature`` / ``train.sft_weight``; label
"baseline" uses the ``baseline`` section (pacer ``all``, constant schedules) and, with
``baseline.match_srd_steps``, the number of optimizer steps the SRD run plans.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from srd_core.components import Schedule, StagePlan
from srd_core.config import ComponentSpec, SRDConfig
from srd_core.errors import ConfigError
from srd_core.training.batches import stage_steps

LABELS = ("srd", "baseline")


@dataclass
class LabelSettings:
    """What differs between the SRD run and the baseline: data pacing and the T / w_sft schedules."""

    pacer: ComponentSpec
    temperature: ComponentSpec
    sft_weight: ComponentSpec
    section: str
    """Config section the settings come from (for error messages)."""

    def specs(self) -> dict[str, ComponentSpec]:
        """The three component specs by role."""
        return {"pacer": self.pacer, "temperature": self.temperature, "sft_weight": self.sft_weight}


def label_settings(config: SRDConfig, label: str) -> LabelSettings:
    """The pacer and schedules of ``label``: "srd" (curriculum + train) or "baseline"."""
    if label == "srd":
        return LabelSettings(config.curriculum.pacer, config.train.temperature, config.train.sft_weight, "train")
    if label == "baseline":
        b = config.baseline
        return LabelSettings(b.pacer, b.temperature, b.sft_weight, "baseline")
    raise ConfigError(f"unknown training label {label!r} (expected one of {', '.join(LABELS)})")


def global_batch_size(config: SRDConfig, num_processes: int) -> int:
    """Samples per optimizer step over all processes: batch_size × processes × grad_accum."""
    return config.train.batch_size * num_processes * config.train.grad_accum


def pacer_stages(config: SRDConfig, run_dir: Path, pacer_spec: ComponentSpec,
                 all_ids: Sequence[str]) -> list[StagePlan]:
    """The stages of a pacer; curation-using pacers read ``run_dir/curation.jsonl``."""
    from srd_core.curation.curate import build_pacer, load_curation, plan_stages

    pacer = build_pacer(pacer_spec)
    records = load_curation(run_dir) if pacer.uses_curation else None
    return plan_stages(pacer, records, all_ids)


def stage_lengths(stages: Sequence[StagePlan], global_batch: int, max_steps: int | None) -> list[int]:
    """Optimizer steps of each stage, the run cut at ``max_steps``."""
    lengths, done = [], 0
    for plan in stages:
        n = stage_steps(plan, global_batch)
        if max_steps is not None:
            n = max(0, min(n, max_steps - done))
        lengths.append(n)
        done += n
    return lengths


def match_steps(stages: list[StagePlan], target_steps: int, global_batch: int) -> list[StagePlan]:
    """Rescale the stages' epochs so that they add up to exactly ``target_steps`` optimizer steps."""
    per_epoch = [math.ceil(len(p.ids) / global_batch) for p in stages]
    planned = sum(stage_steps(p, global_batch) for p in stages)
    if planned == 0 or target_steps <= 0:
        return stages
    out, remaining = [], target_steps
    for i, (plan, spe) in enumerate(zip(stages, per_epoch, strict=True)):
        last = i == len(stages) - 1
        steps = remaining if last else min(remaining, round(stage_steps(plan, global_batch) * target_steps / planned))
        out.append(StagePlan(ids=list(plan.ids), epochs=steps / spe if spe else 0.0))
        remaining -= steps
    return out


def plan_label_stages(config: SRDConfig, run_dir: Path, label: str, all_ids: Sequence[str],
                      global_batch: int) -> list[StagePlan]:
    """The stage plans of ``label``; the baseline gets the SRD run's number of steps if configured."""
    settings = label_settings(config, label)
    stages = pacer_stages(config, run_dir, settings.pacer, all_ids)
    if label == "baseline" and config.baseline.match_srd_steps:
        srd_stages = pacer_stages(config, run_dir, config.curriculum.pacer, all_ids)
        srd_total = sum(stage_steps(p, global_batch) for p in srd_stages)
        stages = match_steps(stages, srd_total, global_batch)
    return stages


def build_schedules(settings: LabelSettings, num_stages: int) -> tuple[Schedule, Schedule]:
    """The temperature and SFT-weight schedules, checked against the number of stages."""
    from srd_core.plugins import get_component

    built = {}
    for what in ("temperature", "sft_weight"):
        spec: ComponentSpec = getattr(settings, what)
        schedule = get_component("schedule", spec.name, **spec.params)
        try:
            schedule.check_stages(num_stages)
        except ValueError as exc:
            raise ConfigError(f"{settings.section}.{what}: {exc} (the pacer plans {num_stages} stages)") from None
        built[what] = schedule
    return built["temperature"], built["sft_weight"]
