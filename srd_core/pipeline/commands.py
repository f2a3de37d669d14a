"""What each single-phase command is: `srd prepare | reflect | curate | train | evaluate`.

A ``Command`` is attached to rows of the phase table (``srd_core.pipeline.phases.TABLE``); the CLI makes one
`srd` command of each, which runs the row's phases through their ``work`` under the rule of `srd run`
(``srd_core.pipeline.single_phase.run_command``). A command says only what is its own: its help, the option
that picks one of its phases (``Choice``: ``--label ARM``), what the config must hold to run it, and the lines
it prints from what the phases' work returned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from srd_core.arms import arm_of, curation_dir
from srd_core.config import SRDConfig
from srd_core.curation.curate import curation_summary
from srd_core.pipeline import work
from srd_core.pipeline.work import RunContext
from srd_core.rundir import CURATION_FILE, PREPARE_MANIFEST_FILE, PREPARED_DIR


@dataclass(frozen=True)
class Ran:
    """One phase a command ran: its name, its state before (complete, stale, todo, off, ...) and what its work
    returned (None when it did not run: off)."""

    phase: str
    state: str
    result: Any


@dataclass(frozen=True)
class Choice:
    """The option of a command that picks which of its row's phases runs: phase = the row's stem + the value
    (``srd train --label baseline`` runs ``train_baseline``)."""

    option: str
    metavar: str
    default: str
    help: str
    aliases: tuple[tuple[str, str], ...] = ()
    """(value, phase suffix) pairs where the two differ (``student`` runs ``evaluate_student_init``)."""
    outside: Callable[[str], Callable[[RunContext], Any]] | None = None
    """The work a value that names no phase of the run gets, outside the dependency rule (``srd evaluate --model
    DIR`` evaluates a model directory); None: such a value is an error naming the values."""

    def suffix(self, value: str) -> str:
        """The phase suffix ``value`` picks."""
        return dict(self.aliases).get(value, value)

    def value(self, suffix: str) -> str:
        """The option value that picks the phase with ``suffix``."""
        return {s: v for v, s in self.aliases}.get(suffix, suffix)


@dataclass(frozen=True)
class Command:
    """A `srd` command that runs phases of the table alone, under the rule of `srd run`."""

    name: str
    help: str
    lines: Callable[[SRDConfig, list[Ran]], list[str]]
    """What it prints (main process only) once its phases ran."""
    choice: Choice | None = None
    evaluates: bool | None = False
    """Whether the config must have an eval split (None: when ``train.eval_every`` is set)."""
    curates: bool = False
    """Whether the config must have enough samples for the curriculum's bins."""


# ------------------------------------------------------------------------------------------ what each prints


def _prepare_lines(config: SRDConfig, ran: list[Ran]) -> list[str]:
    result = ran[0].result
    if result is None and not (config.run.dir / PREPARED_DIR / PREPARE_MANIFEST_FILE).is_file():
        return ["prepare: no preset models in this config; nothing to do"]
    if result is None:
        return [f"prepare: {config.run.dir / PREPARED_DIR} is complete; skipped"]
    if result.skipped:
        return [f"prepare: {result.directory} is up to date (key {result.key}); skipped"]
    models = result.manifest["models"]
    parts = [f"{role} {m['parameters']:,} params, SFT {m['sft']['seconds']:.0f}s" for role, m in models.items()]
    return [f"prepare: wrote {result.directory} ({'; '.join(parts)}; {result.manifest['seconds']:.0f}s)"]


def _reflect_lines(config: SRDConfig, ran: list[Ran]) -> list[str]:
    return [ran[0].result.summary.describe()]


def _curate_lines(config: SRDConfig, ran: list[Ran]) -> list[str]:
    lines = []
    for done in ran[1:]:  # the arms with a curriculum of their own (curate_<arm>)
        arm = arm_of(config, done.phase[len("curate_") :])
        lines.append(f"curation of arm {arm.name}: -> {curation_dir(config.run.dir, arm) / CURATION_FILE}")
    summary = curation_summary(config.run.dir)
    sizes = "/".join(str(n) for n in summary["bin_sizes"]) or "none"
    vetoed = f", {summary['vetoed']} vetoed by plugins" if summary["vetoed"] else ""
    lines.append(
        f"curation: kept {summary['kept']} of {summary['total']}{vetoed}; {summary['binned']} in bins {sizes} "
        f"-> {config.run.dir / CURATION_FILE}"
    )
    return lines


def _train_lines(config: SRDConfig, ran: list[Ran]) -> list[str]:
    summary = ran[0].result
    label = ran[0].phase[len("train_") :]
    resumed = f", resumed at step {summary.resumed_from_step}" if summary.resumed_from_step else ""
    return [
        f"{label}: {summary.steps} steps in {summary.stages} stages, {summary.tokens:,} tokens, "
        f"{summary.wall_time:.0f}s{resumed} -> {summary.final_dir}"
    ]


def _evaluate_lines(config: SRDConfig, ran: list[Ran]) -> list[str]:
    label, result = ran[0].result
    spread = f" ± {result.sd:.2f}" if result.protocol == "distillm" else ""
    lines = [f"{label}: ROUGE-L {result.score:.2f}{spread} on {result.n} samples ({result.protocol})"]
    return lines + [f"  {family:<12} {value:6.2f}" for family, value in result.per_family.items()]


# ------------------------------------------------------------------------------------------ the commands

PREPARE = Command(
    "prepare",
    "Build and train the `preset` models of CONFIG_FILE (tokenizer, teacher SFT, student warm start).",
    _prepare_lines,
)
REFLECT = Command(
    "reflect",
    "Let the initial student answer every training prompt (cached, resumable, torchrun-aware).",
    _reflect_lines,
)
CURATE = Command(
    "curate",
    "Rank the reflected training samples, keep the easiest share and bin them (curation.jsonl; an arm with a "
    "curriculum of its own: curation-<arm>/).",
    _curate_lines,
    curates=True,
)
TRAIN = Command(
    "train",
    "Distil the teacher into the student; rerunning resumes from the newest checkpoint.",
    _train_lines,
    choice=Choice(
        "--label",
        "ARM",
        "srd",
        "The arm to train: srd (the curriculum run; needs its curation for curation pacers), baseline "
        "(plain KD), or any arm of the config's `arms`.",
    ),
    evaluates=None,
    curates=True,
)
EVALUATE = Command(
    "evaluate",
    "ROUGE-L x100 of a model's answers on the held-out set; the row goes to RUN_DIR/eval.jsonl.",
    _evaluate_lines,
    choice=Choice(
        "--model",
        "teacher|student|ARM|PATH",
        "student",
        "Which model: the run's teacher, initial student, the student of an arm (srd, baseline, ...), or a model "
        "directory.",
        aliases=(("student", "student_init"),),
        outside=work.evaluate,
    ),
    evaluates=True,
)


def command_line(command: Command, suffix: str | None = None) -> str:
    """The command line that runs the phase with ``suffix`` (``train CONFIG --label baseline``)."""
    line = f"{command.name} CONFIG"
    if command.choice is not None and suffix is not None:
        value = command.choice.value(suffix)
        if value != command.choice.default:
            line += f" {command.choice.option} {value}"
    return line
