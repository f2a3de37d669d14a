"""Every extension point of srd. Bodies are docstrings only: this file is the plugin contract.

Registration hooks receive a ``register(name, cls)`` callback; the registry, not call order,
resolves clashes. Notify hooks observe (and may adjust) a run while it happens.
"""

from __future__ import annotations

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("srd")
hookimpl = HookimplMarker("srd")


@hookspec
def register_difficulty_metrics(register):
    """Register ``difficulty_metric`` components: ``register("rouge_l", RougeL)``.

    A metric subclasses ``srd_core.components.DifficultyMetric``: it scores each sample from the
    student's reflection and declares whether a higher value means easier or harder.
    """


@hookspec
def register_fusions(register):
    """Register ``fusion`` components that merge per-metric ranks into one score (e.g. ``rrf``)."""


@hookspec
def register_selectors(register):
    """Register ``selector`` components: the rule deciding how many of the sorted samples are kept."""


@hookspec
def register_pacers(register):
    """Register ``pacer`` components: the curriculum that turns kept samples into training stages."""


@hookspec
def register_schedules(register):
    """Register ``schedule`` components: ``value(step, total, stage)`` for temperature / SFT weight."""


@hookspec
def register_kd_losses(register):
    """Register ``kd_loss`` components: a per-token divergence between teacher and student."""


@hookspec
def register_teacher_signals(register):
    """Register ``teacher_signal`` components: the online teacher, or a cache of its logits (full, top-k)."""


@hookspec
def register_tasks(register):
    """Register ``task`` components: data generators and loaders that yield ``Sample`` lists."""


@hookspec
def register_groupings(register):
    """Register ``grouping`` components: ``assign(samples)`` gives each training sample a group name.

    A grouping subclasses ``srd_core.components.Grouping``; ``curriculum.groups`` picks one, and
    ``curriculum.stratify: true`` applies the selector and the pacer's bins within each group.
    """


@hookspec
def register_response_sources(register):
    """Register ``response_source`` components: where each training step's responses come from.

    A source subclasses ``srd_core.components.ResponseSource`` (ground truth, the student's own samples,
    a replay buffer of them); it is chosen by ``train.responses``.
    """


@hookspec
def register_commands(cli):
    """Add subcommands to the ``srd`` click group ``cli``."""


@hookspec
def reflection_scored(table, config):
    """Called after every difficulty metric has scored the reflection, before fusion.

    ``table`` is a ``srd_core.context.ScoreTable`` (ids, samples, reflections, metric values).
    Return an iterable of sample ids to veto (they are dropped whatever their rank), or None.
    """


@hookspec
def stage_start(context):
    """Called before a training stage starts; ``context`` is a ``srd_core.context.TrainContext``.

    ``context.stages`` may be edited for stages after ``context.stage`` (e.g. to re-rank data).
    """


@hookspec
def stage_end(context):
    """Called after a training stage ended and its checkpoint was written."""


@hookspec
def step_end(context, metrics):
    """Called after every optimizer step with that step's ``metrics`` dict (loss, ce, kd, T, ...)."""


@hookspec
def train_end(context, summary):
    """Called once when training finished; ``summary`` holds steps, tokens and wall time."""
