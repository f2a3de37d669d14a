"""Base classes of the component kinds. A plugin subclasses one and declares its ``Params``.

Every component is built as ``cls(params)`` where ``params`` is an instance of ``cls.Params``
(a pydantic model with ``extra="forbid"``), validated from the YAML spec ``{name: ..., **params}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from srd_core.types import StagePlan

if TYPE_CHECKING:
    import torch

    from srd_core.context import ModelAccess
    from srd_core.types import ReflectionRecord, Sample


__all__ = ["StagePlan"]  # defined with the other plain records; exported here, as plugins import it


class NoParams(BaseModel):
    """A component without parameters."""

    model_config = ConfigDict(extra="forbid")


class Component:
    """Common base: holds validated params; ``name`` is set by the registry when built."""

    kind: ClassVar[str] = ""
    Params: ClassVar[type[BaseModel]] = NoParams
    params: BaseModel
    """An instance of ``Params``; a subclass declares ``params: MyParams`` so a type checker knows its fields."""
    name: str = ""

    def __init__(self, params: BaseModel | None = None) -> None:
        self.params = params if params is not None else self.Params()


class DifficultyMetric(Component):
    """Scores each training sample from the student's reflection.

    ``higher_is_easier`` gives the direction used for ranking (ROUGE-L: True, CE: False).
    A metric with ``needs_model = True`` receives a ``ModelAccess`` to the initial student.
    """

    kind = "difficulty_metric"
    higher_is_easier: bool = True
    """A class attribute, or set per instance when a param gives the direction (curation reads the instance's)."""
    needs_model: ClassVar[bool] = False

    def score(
        self,
        samples: Sequence[Sample],
        reflections: Sequence[ReflectionRecord],
        model: ModelAccess | None = None,
    ) -> list[float]:
        """Return one value per sample, in the order given."""
        raise NotImplementedError


class Fusion(Component):
    """Merges per-metric ranks (1 = easiest) into one score per sample; higher = easier."""

    kind = "fusion"

    def fuse(self, ranks: Mapping[str, Sequence[int]]) -> list[float]:
        """Return one fused score per sample."""
        raise NotImplementedError


@dataclass
class Selection:
    """How many of the easy→hard sorted samples are kept, and why."""

    n_keep: int
    info: dict[str, Any] = field(default_factory=dict)


class Selector(Component):
    """Chooses the kept share of the sorted samples (the λ rule)."""

    kind = "selector"

    def select(
        self,
        order: Sequence[int],
        fused: Sequence[float],
        values: Mapping[str, Sequence[float]],
    ) -> Selection:
        """``order``: sample indices easy→hard; ``fused``/``values`` are indexed by sample."""
        raise NotImplementedError

    def planned_keep(self, n: int) -> int | None:
        """How many of ``n`` samples ``select`` will keep, from the params alone (None: only the scores can tell).

        Config validation checks the curriculum's bins against it and the dry run plans the stages with it,
        before any reflection exists. Fallback (None, the default): validation assumes every sample is kept,
        and the dry run does too and says so in its notes.
        """
        return None


class Pacer(Component):
    """The curriculum: turns kept, sorted samples into bins and training stages."""

    kind = "pacer"
    uses_curation: ClassVar[bool] = True

    def bins(self, kept: Sequence[str]) -> list[list[str]]:
        """Split kept ids (easy→hard) into bins; curation records each sample's bin."""
        raise NotImplementedError

    def stages(self, bins: Sequence[Sequence[str]] | None, all_ids: Sequence[str]) -> list[StagePlan]:
        """Training stages from the curation bins (or all ids when ``uses_curation`` is False)."""
        raise NotImplementedError

    def planned_stages(self) -> int | None:
        """How many stages ``stages`` will return, from the params alone (None: only the data can tell).

        Config validation checks per-stage schedules (``stagewise``) against it before any work runs.
        """
        return None


class Schedule(Component):
    """A value over training (temperature, SFT weight): a pure function of step and stage."""

    kind = "schedule"
    per_stage: ClassVar[bool] = False
    """True when the values are given stage by stage (``stagewise``): validation then names the stage of an
    out-of-range value, the first one included. Fallback (False): it names stages 2 and later only."""

    def value(self, step: int, total: int, stage: int) -> float:
        """Value at optimizer step ``step`` of ``total`` (0-based), in stage ``stage`` (0-based)."""
        raise NotImplementedError

    def check_stages(self, num_stages: int) -> None:
        """Raise ``ValueError`` if this schedule cannot serve ``num_stages`` stages."""

    def for_stages(self, num_stages: int) -> dict[str, Any] | None:
        """The params that spell this schedule out for ``num_stages`` stages (``stagewise`` given as
        ``start``/``end`` → ``values``), or None when it needs no change; the config is resolved with them."""
        return None


class KDLoss(Component):
    """A divergence between teacher and student next-token distributions, per token.

    The engine divides logits by the temperature, takes fp32 log-softmax, keeps response tokens
    only, chunks over tokens and reduces (sum over valid tokens / count); a loss only maps
    log-probabilities ``[N, V]`` to per-token values ``[N]``.
    """

    kind = "kd_loss"
    official_t2_scaling: bool = False
    """Whether the official SRD code multiplies this divergence by T² (``train.scale_kd_by_t2: official``)."""

    def token_loss(self, student_logp: torch.Tensor, teacher_logp: torch.Tensor) -> torch.Tensor:
        """Per-token divergence ``[N]`` from fp32 log-probs ``[N, V]`` (p = teacher, q = student)."""
        raise NotImplementedError


class TeacherSignal(Component):
    """What the student is distilled from at each response position: the online teacher or a cache.

    A cached signal (``cached = True``) is computed once per sample before training: ``fields`` says
    which arrays are stored per response position, ``encode`` turns fp32 teacher logits into those
    rows. During training ``log_probs`` turns the student's fp32 logits of a chunk (with grad) and the
    stored rows of the same positions into two log-probability tensors ``[n, C]`` over the same ``C``
    categories (``C = V`` for dense signals, ``k + 1`` for top-k), which ``KDLoss.token_loss`` takes.
    The online teacher has ``cached = False`` and receives its rows as ``{"logits": [n, V]}``.
    """

    kind = "teacher_signal"
    cached: ClassVar[bool] = True
    """Whether the signal is computed once before training: validation fits it to the vocabulary, the run and
    the dry run add the teacher-cache phase. Fallback (True): a cache; the online teacher sets False."""
    uses_temperatures: ClassVar[bool] = False
    """True when the stored rows depend on the temperatures the plan asks for (e.g. a top-k tail)."""

    def stored_temperatures(self, temperatures: Sequence[float]) -> list[float]:
        """The temperatures the stored rows are made for, given every T the plan asks for (default: none)."""
        return []

    def fields(self, vocab_size: int, temperatures: Sequence[float]) -> dict[str, tuple[str, int]]:
        """Stored arrays per response position: name → (numpy dtype name, width)."""
        raise NotImplementedError

    def encode(self, logits: torch.Tensor, temperatures: Sequence[float]) -> dict[str, torch.Tensor]:
        """The rows to store (``[n, width]`` per field) from fp32 teacher logits ``[n, V]``."""
        raise NotImplementedError

    def log_probs(
        self,
        student_logits: torch.Tensor,
        rows: Mapping[str, torch.Tensor],
        temperature: float,
        temperatures: Sequence[float],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(student_logp, teacher_logp) ``[n, C]`` in fp32 at ``temperature`` from the stored ``rows``."""
        raise NotImplementedError


class Grouping(Component):
    """Gives each training sample a group (task family, source dataset, category, cluster).

    Curation reports per-group diagnostics and, with ``curriculum.stratify: true``, applies the
    selector and the pacer's bins within each group.
    """

    kind = "grouping"

    forms_groups: ClassVar[bool] = True
    """False for a grouping that puts every sample in one group (``none``): curation then records no groups
    and its freshness does not depend on the samples' fields. Fallback (True): the samples are grouped."""

    def assign(self, samples: Sequence[Sample]) -> list[str]:
        """Return one group name per sample, in the order given."""
        raise NotImplementedError


class Task(Component):
    """A data source: a generator (synthetic) or a loader (jsonl, MiniLLM, HF datasets)."""

    kind = "task"

    def load(self, split: str) -> list[Sample]:
        """Return the samples of ``split`` (``"train"`` or ``"eval"``) with unique ids."""
        raise NotImplementedError

    def has_split(self, split: str) -> bool | None:
        """Whether the task provides ``split`` by itself (a file, a dataset split, a carved dev split).

        Validation asks it for ``"eval"`` before a command that evaluates runs. Fallback (None, the default):
        the task is trusted to provide it, and loading it names the problem.
        """
        return None

    def count(self, split: str) -> int | None:
        """The samples of ``split`` when they are cheap to count without loading them (before ``data.limit_*``).

        Validation checks the curriculum's bins against the ``"train"`` count. Fallback (None, the default):
        that check is left to curation.
        """
        return None

    def check_sources(self) -> None:
        """Raise ``ValueError("<param>: <problem>")`` when a local source the task reads is missing or unreadable.

        Validation calls it (prefixing the task's config field) for every task of the config, before any
        command runs; it must read no data and download nothing. Fallback (the default): no check, loading
        the data names the problem.
        """

    def probe_bytes(self) -> int | None:
        """Bytes validation parses to load the first records of this task's splits as the run will: only for
        local line-based files that load without the network. Fallback (None, the default): validation leaves
        the records to the run, which reads all its data before it writes anything.
        """
        return None


@dataclass
class StepResponses:
    """The responses one optimizer step computes its KD term on (the SFT term stays on the ground truth,
    unless the source's ``sft_on`` parameter is ``batch``: then it trains on these responses too).

    ``source`` says where they came from: ``ground_truth``, ``generated`` (the student sampled them at
    this step) or ``replay`` (stored by an earlier step). ``items`` holds ``(sample id, response token
    ids)`` pairs, EOS included when the student stopped; None means the ground-truth responses of the
    step's own batch.
    """

    source: str
    items: list[tuple[str, list[int]]] | None = None


GenerateFn = Callable[[Sequence[str]], list[list[int]]]
"""``generate(sample_ids) -> response token ids``: the current student samples a response for each
prompt (batched, KV cache, each process its share, gathered); every process must call it together."""


class ResponseSource(Component):
    """Where each step's responses come from: the ground truth, the student's samples, a replay buffer.

    The loop asks ``choose`` once per optimizer step on every process; a source that draws random
    numbers must draw them from its own stream (seeded by ``start``) so that every process takes the
    same branch, and ``state_dict`` / ``load_state_dict`` must carry that stream and any buffer through
    a checkpoint (JSON-serialisable values only). ``generates = False`` marks sources that only ever
    return the ground truth (a cached teacher signal can score them).
    """

    kind = "response_source"
    generates: ClassVar[bool] = True

    def start(self, seed: int) -> None:
        """Seed the source's random stream for a fresh run."""

    def choose(self, step: int, total: int, ids: Sequence[str], generate: GenerateFn) -> StepResponses:
        """The responses of 0-based optimizer step ``step`` of ``total``, whose ground-truth batch is ``ids``."""
        raise NotImplementedError

    def sampling(self) -> dict[str, Any]:
        """How ``generate`` samples: ``temperature``, ``top_p``, ``top_k``, ``max_new_tokens`` (None: up to
        data.max_length)."""
        return {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "max_new_tokens": None}

    def seed_buffer(self, items: Sequence[tuple[str, list[int]]]) -> None:
        """Add earlier student outputs (the reflection's, for ``seed_from_reflection``); default: ignored."""

    def dev_loss_due(self, step_in_stage: int, steps_per_epoch: int) -> bool:
        """Whether the loop should report the student's dev loss after this step (``observe_dev_loss``)."""
        return False

    def reads_reflection(self) -> bool:
        """Whether ``seed_buffer`` takes the reflection's outputs: the loop then reads ``reflection.jsonl`` at
        each stage start, and training depends on the reflection. Fallback (False): it is never handed them."""
        return False

    def needs_dev_split(self) -> str | None:
        """Why this source reads the dev split, as ``"<param>: <why>"`` (validation asks for ``data.dev`` or
        ``data.eval`` then), or None when it does not (the fallback)."""
        return None

    def observe_dev_loss(self, step: int, loss: float) -> None:
        """The student's token-mean CE on the dev set's ground truth after ``step`` steps (-1: before training)."""

    def metrics(self) -> dict[str, Any]:
        """Per-step values for metrics.jsonl (buffer size, threshold, ...)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs (random stream, buffer), JSON-serialisable."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""


KIND_BASES: dict[str, type[Component]] = {
    cls.kind: cls
    for cls in (
        DifficultyMetric,
        Fusion,
        Selector,
        Pacer,
        Schedule,
        KDLoss,
        TeacherSignal,
        Task,
        Grouping,
        ResponseSource,
    )
}
