"""The dry-run planner: what ``srd run`` would do, without loading a model or training anything.

``plan_run(config, run_dir)`` lists the phases, the SRD stages (samples, epochs, optimizer steps,
T, SFT weight, estimated tokens) and the same for the baseline. Step counts use the training
engine's own math (``srd_core.training.stages`` / ``srd_core.training.batches``) and the configured selector and
pacer. Every number that is not measured says so:

* training samples: counted by loading the data (cheap); else ``num_samples`` if given; else the
  Dolly train split as processed by MiniLLM/DistiLLM/SRD (``DOLLY_TRAIN_SAMPLES``) — an estimate;
* tokens per sample: from ``reflection.jsonl`` when the run already reflected; else measured with
  the student tokenizer when it is on disk; else ``len(text) / CHARS_PER_TOKEN`` over the loaded
  samples; else ``ASSUMED_TOKENS_PER_SAMPLE`` — each capped at ``data.max_length``;
* curation: the real bins when ``curation.jsonl`` exists, else the selector and pacer applied to the
  data order (bin *sizes* do not depend on which samples are easy).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from srd_core.arms import config_for_curation, curation_dir, resolve_arms, uses_curation
from srd_core.components import StagePlan
from srd_core.config import ComponentSpec, SRDConfig
from srd_core.curation.curate import build_pacer
from srd_core.data.samples import load_split
from srd_core.errors import SRDError
from srd_core.io import read_jsonl
from srd_core.launcher import world_size
from srd_core.models.hub import locate
from srd_core.pipeline import phases
from srd_core.pipeline.describe import PlanView, _curation_detail, _tokens
from srd_core.pipeline.phases import phases_for
from srd_core.plugins import get_component
from srd_core.rundir import CURATION_FILE, REFLECTION_FILE

DOLLY_TRAIN_SAMPLES = 11_424
"""Training samples of MiniLLM's Dolly split after the 1,000-sample dev carve: the official SRD/DistiLLM
scripts run 357 steps per epoch at 32 samples per step (sft_*.sh), 178/357/534 at 16 for the SRD stages."""
ASSUMED_TOKENS_PER_SAMPLE = 170
"""Prompt + response tokens of an average Dolly sample: ≈ 685 characters (Alpaca prompt 323 + answer
361 in MiniLLM's dev split) at ≈ 4 characters per BPE token."""
CHARS_PER_TOKEN = 4.0
"""Characters per token of English BPE text (GPT-2, Llama), used when no tokenizer is at hand."""
TOKENIZER_SAMPLE = 2000
"""Samples tokenized to measure the average length."""


@dataclass
class Estimate:
    """A number and where it comes from; ``measured`` False marks an estimate."""

    value: float
    source: str
    measured: bool


@dataclass
class StageRow:
    """One planned training stage."""

    samples: int
    epochs: float
    steps: int
    sample_passes: int
    tokens: float
    temperature: str
    sft_weight: str


@dataclass
class TrainingPlan:
    """The planned training run of one arm (srd, baseline, or an arm of ``arms``)."""

    label: str
    pacer: str
    stages: list[StageRow]
    note: str = ""

    @property
    def steps(self) -> int:
        return sum(s.steps for s in self.stages)

    @property
    def tokens(self) -> float:
        return sum(s.tokens for s in self.stages)

    @property
    def sample_passes(self) -> int:
        return sum(s.sample_passes for s in self.stages)


class PhaseRow(NamedTuple):
    """One row of the dry run's phase list."""

    name: str
    detail: str


@dataclass
class RunPlan:
    """Everything ``srd run --dry-run`` prints."""

    run_dir: Path
    samples: Estimate
    tokens_per_sample: Estimate
    processes: int
    global_batch: int
    models: dict[str, str]
    phases: list[PhaseRow]
    """Every step of ``srd run`` and what it will do, from each phase's ``describe``."""
    arms: dict[str, TrainingPlan]
    """Every arm's planned training, in run order."""
    notes: list[str] = field(default_factory=list)
    batch_formula: str = ""
    comparisons: list[tuple[str, str]] = field(default_factory=list)
    """(curriculum arm, reference arm) pairs whose budgets are compared."""

    @property
    def srd(self) -> TrainingPlan | None:
        return self.arms.get("srd")

    @property
    def baseline(self) -> TrainingPlan | None:
        return self.arms.get("baseline")

    def render(self) -> str:
        """The plan as text (nothing is loaded or run)."""
        estimate = " (ESTIMATE)"
        lines = [
            "srd run --dry-run: nothing is loaded, trained or written",
            f"run directory     {self.run_dir}",
            *(f"{role:<17} {where}" for role, where in self.models.items()),
            f"training samples  {int(self.samples.value):,}{'' if self.samples.measured else estimate}: "
            f"{self.samples.source}",
            f"tokens / sample   {self.tokens_per_sample.value:,.0f}"
            f"{'' if self.tokens_per_sample.measured else estimate}: {self.tokens_per_sample.source}",
            f"global batch      {self.global_batch} = {self.batch_formula}",
            "",
            "phases",
            *(f"  {i}. {name:<16} {detail}" for i, (name, detail) in enumerate(self.phases, start=1)),
        ]
        for plan in self.arms.values():
            lines += ["", *_render_training(plan)]
        compared = []
        for a, b in self.comparisons:
            one, other = self.arms[a], self.arms[b]
            if not (other.steps and other.tokens):
                continue
            name = "SRD vs baseline" if (a, b) == ("srd", "baseline") else f"{a} vs {b}"
            compared.append(
                f"{name:<17} steps {one.steps:,} vs {other.steps:,} "
                f"({one.steps / other.steps:.2f}x); trained tokens {_tokens(one.tokens)} vs "
                f"{_tokens(other.tokens)} ({one.tokens / other.tokens:.2f}x)"
                f"{'' if self.tokens_per_sample.measured and self.samples.measured else ' (estimates)'}"
            )
        if compared:
            lines += ["", *compared]
        if self.notes:
            lines += ["", "notes", *(f"  - {n}" for n in self.notes)]
        return "\n".join(lines) + "\n"


def _epochs(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def _render_training(plan: TrainingPlan) -> list[str]:
    header = f"{'stage':>5} {'samples':>9} {'epochs':>7} {'steps':>8} {'T':>11} {'w_sft':>11} {'est. tokens':>12}"
    lines = [f"{plan.label} training (pacer {plan.pacer}){': ' + plan.note if plan.note else ''}", header]
    for i, s in enumerate(plan.stages, start=1):
        lines.append(
            f"{i:>5} {s.samples:>9,} {_epochs(s.epochs):>7} {s.steps:>8,} {s.temperature:>11} "
            f"{s.sft_weight:>11} {_tokens(s.tokens):>12}"
        )
    lines.append(f"{'total':>5} {'':>9} {'':>7} {plan.steps:>8,} {'':>11} {'':>11} {_tokens(plan.tokens):>12}")
    return lines


# ------------------------------------------------------------------------------------------ counting


@dataclass
class _Data:
    """What the planner knows about the training data."""

    ids: list[str]
    samples: Estimate
    lengths: dict[str, int] | None
    tokens: Estimate


def _load_samples(config: SRDConfig) -> tuple[list | None, str]:
    """The training samples, or None and why they could not be loaded."""
    try:
        return load_split(config, "train").samples, ""
    except SRDError as exc:
        return None, str(exc)


def _reflection_lengths(run_dir: Path, ids: Sequence[str]) -> dict[str, int] | None:
    """Per-sample prompt + response tokens recorded by an earlier reflection of these samples."""
    path = run_dir / REFLECTION_FILE
    if not path.is_file():
        return None

    rows = read_jsonl(path, tolerate_torn_tail=True)
    lengths = {
        str(r["id"]): int(r["prompt_tokens"]) + int(r["response_tokens"])
        for r in rows
        if "prompt_tokens" in r and "response_tokens" in r
    }
    return lengths if set(ids) <= set(lengths) else None


def _local_tokenizer(config: SRDConfig, run_dir: Path):
    """The student tokenizer if it can be loaded without the network, else None."""
    from srd_core.models.loading import load_tokenizer, resolve_model_path  # deferred: torch

    try:
        name = resolve_model_path(config.student, run_dir, "student")
        if locate(name, "student.path").kind == "hub":
            return None
        return load_tokenizer(config.student, name, "student")
    except SRDError:
        return None


def _measure_tokens(config: SRDConfig, run_dir: Path, samples: list) -> Estimate:
    """Mean prompt + response tokens of (a prefix of) ``samples``, capped at ``data.max_length``."""
    d = config.data
    head = samples[:TOKENIZER_SAMPLE]
    tokenizer = _local_tokenizer(config, run_dir)
    if tokenizer is not None:
        from srd_core.data.encoding import encode_example  # deferred: torch

        lengths: list[float] = [
            len(encode_example(tokenizer, s.prompt, s.target, d.max_prompt_tokens, d.max_length).input_ids)
            for s in head
        ]
        return Estimate(
            statistics.fmean(lengths), f"measured with the student tokenizer on {len(head):,} samples", True
        )
    lengths = [
        min(
            d.max_length,
            min(d.max_prompt_tokens, len(s.prompt) / CHARS_PER_TOKEN) + len(s.target) / CHARS_PER_TOKEN + 1,
        )
        for s in head
    ]
    return Estimate(
        statistics.fmean(lengths),
        f"{len(head):,} samples at ~{CHARS_PER_TOKEN:g} characters per token (the student tokenizer is not on disk)",
        False,
    )


def _count_data(config: SRDConfig, run_dir: Path, num_samples: int | None, avg_tokens: float | None) -> _Data:
    limit = config.data.limit_train
    samples, why = (None, "") if num_samples is not None else _load_samples(config)
    if samples is not None:
        ids = [s.id for s in samples]
        count = Estimate(len(ids), "counted in the training data", True)
    else:
        n = num_samples if num_samples is not None else DOLLY_TRAIN_SAMPLES
        n = min(n, limit) if limit else n
        source = (
            "given by --num-samples"
            if num_samples is not None
            else f"the training data could not be loaded ({why}); assumed the Dolly train split as processed by "
            f"MiniLLM/SRD ({DOLLY_TRAIN_SAMPLES:,}); pass --num-samples N to change"
        )
        ids = [f"sample-{i}" for i in range(n)]
        count = Estimate(n, source, False)
    lengths = _reflection_lengths(run_dir, ids) if samples is not None else None
    if avg_tokens is not None:
        tokens = Estimate(avg_tokens, "given by --tokens-per-sample", False)
    elif lengths is not None:
        tokens = Estimate(statistics.fmean(lengths[i] for i in ids), "measured in reflection.jsonl", True)
    elif samples:
        tokens = _measure_tokens(config, run_dir, samples)
    else:
        tokens = Estimate(
            min(ASSUMED_TOKENS_PER_SAMPLE, config.data.max_length),
            "assumed for Dolly (≈ 685 characters per prompt + answer, ~4 characters per token); "
            "pass --tokens-per-sample to change",
            False,
        )
    return _Data(ids, count, lengths, tokens)


# ------------------------------------------------------------------------------------------ stages


def _simulated_bins(config: SRDConfig, ids: list[str]) -> tuple[list[list[str]] | None, int, str]:
    """Bins of the curriculum pacer when curation has not run yet: selector + pacer on the data order."""
    spec = config.curriculum.selector
    selector = get_component("selector", spec.name, **spec.params)
    pacer = build_pacer(config.curriculum.pacer)
    note, n_keep = "", selector.planned_keep(len(ids))
    if n_keep is None:  # only the reflection scores can tell (Selector.planned_keep's fallback)
        n_keep = len(ids)
        note = f"selector {spec.name!r} does not plan how many samples it keeps (planned_keep); assumed it keeps all"
    if not pacer.uses_curation:
        return None, n_keep, note
    try:
        return pacer.bins(ids[:n_keep]), n_keep, note
    except ValueError as exc:
        raise SRDError(f"curriculum.pacer: {exc}") from None


def _stages(
    config: SRDConfig, run_dir: Path, pacer_spec: ComponentSpec, ids: list[str], bins: list[list[str]] | None
) -> list[StagePlan]:
    """The stage plans of a pacer, from curation.jsonl when it exists, else from simulated bins."""
    from srd_core.training.stages import pacer_stages  # deferred: numpy

    pacer = build_pacer(pacer_spec)
    if pacer.uses_curation and (run_dir / CURATION_FILE).is_file():
        return pacer_stages(config, run_dir, pacer_spec, ids)
    try:
        return pacer.stages(bins if pacer.uses_curation else None, ids)
    except ValueError as exc:
        raise SRDError(f"pacer {pacer_spec.name!r}: {exc}") from None


def sample_passes(n_ids: int, steps: int, global_batch: int) -> int:
    """Samples seen in ``steps`` optimizer steps over a stage of ``n_ids`` samples (partial last batches)."""
    per_epoch = math.ceil(n_ids / global_batch) if n_ids else 0
    if per_epoch == 0:
        return 0
    full, rest = divmod(steps, per_epoch)
    return full * n_ids + min(rest * global_batch, n_ids)


def _schedule_text(schedule, first: int, last: int, total: int, stage: int) -> str:
    start, end = schedule.value(first, total, stage), schedule.value(last, total, stage)
    return f"{start:.2f}" if math.isclose(start, end) else f"{start:.2f}-{end:.2f}"


def _training_plan(
    config: SRDConfig, label: str, stages: list[StagePlan], global_batch: int, data: _Data, note: str = ""
) -> TrainingPlan:
    from srd_core.training.stages import build_schedules, label_settings, stage_lengths  # deferred: numpy

    settings = label_settings(config, label)
    temperature, sft_weight = build_schedules(settings, len(stages))
    lengths = stage_lengths(stages, global_batch, config.train.max_steps)
    total = sum(lengths)
    rows, done = [], 0
    for stage, (plan, steps) in enumerate(zip(stages, lengths, strict=True)):
        passes = sample_passes(len(plan.ids), steps, global_batch)
        if data.lengths is not None and plan.ids:
            per_sample = statistics.fmean(data.lengths[i] for i in plan.ids)
        else:
            per_sample = data.tokens.value
        last = done + max(steps - 1, 0)
        rows.append(
            StageRow(
                len(plan.ids),
                plan.epochs,
                steps,
                passes,
                passes * per_sample,
                _schedule_text(temperature, done, last, total, stage),
                _schedule_text(sft_weight, done, last, total, stage),
            )
        )
        done += steps
    return TrainingPlan(label, settings.pacer.name, rows, note)


# ------------------------------------------------------------------------------------------ phases


def _model_line(config: SRDConfig, role: str) -> str:
    cfg = getattr(config, role)
    if cfg.path is None:
        return f"preset {cfg.preset} (built by `prepare`)"
    extras = "".join(
        [
            f" + adapter {cfg.adapter}" if cfg.adapter else "",
            f" + LoRA r={cfg.lora.r}" if cfg.lora else "",
            f", {cfg.dtype}",
        ]
    )
    try:
        where = {"local": "local directory", "cache": "in the HF cache", "hub": "downloaded from the hub"}[
            locate(cfg.path, f"{role}.path", revision=cfg.revision).kind
        ]
    except SRDError as exc:
        where = f"NOT AVAILABLE: {str(exc).split(': ', 1)[-1]}"
    return f"{cfg.path}{extras} [{where}]"


def _phases(view: PlanView) -> list[PhaseRow]:
    """The rows of the phase list: each step of the phase table described once (its first phase's ``describe``)."""
    return [PhaseRow(*row) for step in phases.steps(phases_for(view.config)) for row in step[0].describe(view)]


def default_processes() -> int:
    """Processes the run would use: ``WORLD_SIZE`` under a launcher, else 1."""
    return world_size()


def plan_run(
    config: SRDConfig,
    run_dir: str | Path | None = None,
    *,
    num_samples: int | None = None,
    tokens_per_sample: float | None = None,
    num_processes: int | None = None,
) -> RunPlan:
    """The plan of ``srd run`` for ``config`` in ``run_dir`` (default ``run.dir``); loads no model."""
    from srd_core.training.batches import stage_steps  # deferred: numpy
    from srd_core.training.stages import global_batch_size, match_steps  # deferred: numpy

    if num_samples is not None and num_samples < 1:
        raise SRDError(f"--num-samples must be >= 1, got {num_samples}")
    run_dir = Path(run_dir) if run_dir is not None else config.run.dir
    processes = num_processes or default_processes()
    global_batch = global_batch_size(config, processes)
    data = _count_data(config, run_dir, num_samples, tokens_per_sample)
    notes: list[str] = []

    bins, n_keep, note = _simulated_bins(config, data.ids)
    if note:
        notes.append(note)
    resolved = resolve_arms(config)
    own_curations: dict[str, str] = {}
    stages_of: dict[str, list[StagePlan]] = {}
    for name, arm in resolved.items():
        arm_bins = bins
        if arm.curation is not None:
            arm_config = config_for_curation(config, arm)
            arm_bins, arm_keep, _ = _simulated_bins(arm_config, data.ids)
            if arm.curation == name:
                own_curations[name] = _curation_detail(
                    arm_config, int(data.samples.value), arm_keep, arm_bins, curation_dir(run_dir, arm)
                )
        stages_of[name] = _stages(
            config, curation_dir(run_dir, arm), arm.pacer, data.ids, arm_bins if uses_curation(arm.pacer) else None
        )
    plans: dict[str, TrainingPlan] = {}
    for name, arm in resolved.items():
        stages, arm_note = stages_of[name], ""
        if arm.match_steps_of is not None:
            target = stages_of[arm.match_steps_of]
            stages = match_steps(stages, sum(stage_steps(p, global_batch) for p in target), global_batch)
            arm_note = (
                "match_srd_steps: as many optimizer steps as SRD"
                if config.arms is None
                else f"match_steps_of: as many optimizer steps as {arm.match_steps_of}"
            )
        plans[name] = _training_plan(config, name, stages, global_batch, data, arm_note)
    curated = [n for n, a in resolved.items() if uses_curation(a.pacer)]
    comparisons = [(a, b) for a in curated for b in resolved if b not in curated]
    if config.train.max_steps is not None:
        notes.append(f"train.max_steps = {config.train.max_steps} cuts each run short")
    if not data.samples.measured or not data.tokens.measured:
        notes.append("token counts are estimates: samples x tokens per sample (prompt + response, non-padding)")

    t = config.train
    return RunPlan(
        run_dir=run_dir,
        samples=data.samples,
        tokens_per_sample=data.tokens,
        processes=processes,
        global_batch=global_batch,
        batch_formula=f"{t.batch_size} per device x {processes} process(es) x {t.grad_accum} grad-accum",
        models={"teacher": _model_line(config, "teacher"), "student": _model_line(config, "student")},
        phases=_phases(PlanView(config, run_dir, data, n_keep, bins, plans, own_curations)),
        arms=plans,
        notes=notes,
        comparisons=comparisons,
    )
