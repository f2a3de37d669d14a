"""Every extension point of srd. Bodies are docstrings only: this file is the plugin contract.

Registration hooks receive a ``register(name, cls)`` callback; the registry, not call order,
resolves clashes. Notify hooks observe (and may adjust) a run while it happens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from pluggy import HookimplMarker, HookspecMarker

if TYPE_CHECKING:  # annotations only: importing click and the config here would slow every start-up
    import click

    from srd_core.components import (
        Component,
        DifficultyMetric,
        Fusion,
        Grouping,
        KDLoss,
        Pacer,
        ResponseSource,
        Schedule,
        Selector,
        Task,
        TeacherSignal,
    )
    from srd_core.config import CurriculumConfig, SRDConfig
    from srd_core.context import ScoreTable, TrainContext
    from srd_core.types import TrainSummary

hookspec = HookspecMarker("srd")
hookimpl = HookimplMarker("srd")

C = TypeVar("C", bound="Component")
Register = Callable[[str, type[C]], None]
"""The callback a registration hook gets: ``register(name, cls)``; ``cls`` must subclass the kind's base."""


@hookspec
def register_difficulty_metrics(register: Register[DifficultyMetric]) -> None:
    """Register ``difficulty_metric`` components: ``register("rouge_l", RougeL)``.

    A metric subclasses ``srd_core.components.DifficultyMetric``: it scores each sample from the
    student's reflection and declares whether a higher value means easier or harder.

    :param register: Call ``register(name, cls)`` once per metric; the name is what configs use.
    """


@hookspec
def register_fusions(register: Register[Fusion]) -> None:
    """Register ``fusion`` components that merge per-metric ranks into one score (e.g. ``rrf``).

    :param register: Call ``register(name, cls)`` with a ``srd_core.components.Fusion`` subclass.
    """


@hookspec
def register_selectors(register: Register[Selector]) -> None:
    """Register ``selector`` components: the rule deciding how many of the sorted samples are kept.

    :param register: Call ``register(name, cls)`` with a ``srd_core.components.Selector`` subclass.
    """


@hookspec
def register_pacers(register: Register[Pacer]) -> None:
    """Register ``pacer`` components: the curriculum that turns kept samples into training stages.

    :param register: Call ``register(name, cls)`` with a ``srd_core.components.Pacer`` subclass.
    """


@hookspec
def register_schedules(register: Register[Schedule]) -> None:
    """Register ``schedule`` components: ``value(step, total, stage)`` for temperature / SFT weight.

    :param register: Call ``register(name, cls)`` with a ``srd_core.components.Schedule`` subclass.
    """


@hookspec
def register_kd_losses(register: Register[KDLoss]) -> None:
    """Register ``kd_loss`` components: a per-token divergence between teacher and student.

    :param register: Call ``register(name, cls)`` with a ``srd_core.components.KDLoss`` subclass.
    """


@hookspec
def register_teacher_signals(register: Register[TeacherSignal]) -> None:
    """Register ``teacher_signal`` components: the online teacher, or a cache of its logits (full, top-k).

    :param register: Call ``register(name, cls)`` with a ``srd_core.TeacherSignal`` subclass.
    """


@hookspec
def register_tasks(register: Register[Task]) -> None:
    """Register ``task`` components: data generators and loaders that yield ``Sample`` lists.

    :param register: Call ``register(name, cls)`` with a ``srd_core.components.Task`` subclass.
    """


@hookspec
def register_groupings(register: Register[Grouping]) -> None:
    """Register ``grouping`` components: ``assign(samples)`` gives each training sample a group name.

    A grouping subclasses ``srd_core.components.Grouping``; ``curriculum.groups`` picks one, and
    ``curriculum.stratify: true`` applies the selector and the pacer's bins within each group.

    :param register: Call ``register(name, cls)`` with a ``srd_core.components.Grouping`` subclass.
    """


@hookspec
def register_response_sources(register: Register[ResponseSource]) -> None:
    """Register ``response_source`` components: where each training step's responses come from.

    A source subclasses ``srd_core.components.ResponseSource`` (ground truth, the student's own samples,
    a replay buffer of them); it is chosen by ``train.responses``.

    :param register: Call ``register(name, cls)`` with a ``srd_core.components.ResponseSource`` subclass.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``srd`` click group ``cli``.

    :param cli: The ``srd`` command group: decorate functions with ``@cli.command()``.
    """


@hookspec
def reflection_scored(table: ScoreTable, config: SRDConfig | CurriculumConfig) -> Iterable[str] | None:
    """Called after every difficulty metric has scored the reflection, before fusion.

    Return the sample ids to veto (they are dropped whatever their rank), or None.

    :param table: The ids, samples, reflections and metric values of every training sample.
    :param config: The run's config; the ``CurriculumConfig`` alone when curation is run without one.
    """


@hookspec
def stage_start(context: TrainContext) -> None:
    """Called before a training stage starts.

    :param context: The live run; ``context.stages`` may be edited for stages after ``context.stage``
        (e.g. to re-rank data); ``context.arm`` says which pacer and curriculum the arm trains with.
    """


@hookspec
def stage_end(context: TrainContext) -> None:
    """Called after a training stage ended and its checkpoint was written.

    :param context: The live run; ``context.stage`` is the stage that ended.
    """


@hookspec
def step_end(context: TrainContext, metrics: dict[str, Any]) -> None:
    """Called after every optimizer step.

    :param context: The live run; ``context.step`` is the step just taken.
    :param metrics: That step's row of ``metrics.jsonl`` (loss, ce, kd, T, w_sft, lr, ...).
    """


@hookspec
def train_end(context: TrainContext, summary: TrainSummary) -> None:
    """Called once when training finished.

    :param context: The live run, after the last stage.
    :param summary: What the run did: steps, stages, tokens, wall time, FLOPs (also ``summary.json``).
    """
