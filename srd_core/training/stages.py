"""What a training run trains on: the arm's pacer and schedules, stage plans, step counts.

A label is an arm of the run (``srd_core.arms``): by default "srd" (``curriculum.pacer`` with
``train.temperature`` / ``train.sft_weight``) and "baseline" (the ``baseline`` section; with
``baseline.match_srd_steps`` the number of optimizer steps the SRD run plans), or any arm of ``arms``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from srd_core.arms import arm_of, curation_dir
from srd_core.components import Schedule, StagePlan
from srd_core.config import ComponentSpec, SRDConfig
from srd_core.curation.curate import build_pacer, load_curation, plan_stages
from srd_core.errors import ConfigError
from srd_core.plugins import get_component
from srd_core.training.batches import stage_steps


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
    """The pacer and schedules of arm ``label`` (see ``srd_core.arms``)."""
    arm = arm_of(config, label)
    return LabelSettings(arm.pacer, arm.temperature, arm.sft_weight, arm.section)


def global_batch_size(config: SRDConfig, num_processes: int) -> int:
    """Samples per optimizer step over all processes: batch_size × processes × grad_accum."""
    return config.train.batch_size * num_processes * config.train.grad_accum


def pacer_stages(
    config: SRDConfig, run_dir: Path, pacer_spec: ComponentSpec, all_ids: Sequence[str], curation: Path | None = None
) -> list[StagePlan]:
    """The stages of a pacer; curation-using pacers read ``curation/curation.jsonl`` (default: the run dir's)."""
    pacer = build_pacer(pacer_spec)
    records = load_curation(curation if curation is not None else run_dir) if pacer.uses_curation else None
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


def plan_label_stages(
    config: SRDConfig, run_dir: Path, label: str, all_ids: Sequence[str], global_batch: int
) -> list[StagePlan]:
    """The stage plans of arm ``label``, rescaled to another arm's step count when it matches one."""
    arm = arm_of(config, label)
    stages = pacer_stages(config, run_dir, arm.pacer, all_ids, curation_dir(run_dir, arm))
    if arm.match_steps_of is not None:
        target = arm_of(config, arm.match_steps_of)
        target_stages = pacer_stages(config, run_dir, target.pacer, all_ids, curation_dir(run_dir, target))
        stages = match_steps(stages, sum(stage_steps(p, global_batch) for p in target_stages), global_batch)
    return stages


def build_schedules(settings: LabelSettings, num_stages: int) -> tuple[Schedule, Schedule]:
    """The temperature and SFT-weight schedules, checked against the number of stages."""
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
