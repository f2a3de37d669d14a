"""Plain data records shared by every phase: samples, reflections, curation rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Sample:
    """One instruction sample: a fully formatted prompt and its reference answers.

    ``references[0]`` is the training target; every reference counts for evaluation metrics.
    ``meta`` carries analysis-only information (task family, injected noise, tests for code
    metrics, ...): it never reaches the model.
    """

    id: str
    prompt: str
    references: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> str:
        """The response the student is trained on."""
        return self.references[0]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReflectionRecord:
    """What the initial student did on one training sample (one line of reflection.jsonl)."""

    id: str
    prompt_hash: str
    output: str
    ce: float
    prompt_tokens: int
    response_tokens: int
    output_tokens: int
    prompt_truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> ReflectionRecord:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__ if k in row})


@dataclass
class CurationRecord:
    """One line of curation.jsonl: metric values and ranks, fused score, final rank, kept, bin, and the
    sample's group (``None``, and left out of the line, under the ``none`` grouping)."""

    id: str
    values: dict[str, float]
    ranks: dict[str, int]
    fused: float
    rank: int
    kept: bool
    bin: int | None
    group: str | None = None

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        if row["group"] is None:
            del row["group"]
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> CurationRecord:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__ if k != "group"}, group=row.get("group"))


@dataclass
class StagePlan:
    """The sample ids a training stage draws from and for how many epochs (may be fractional)."""

    ids: list[str]
    epochs: float = 1.0


@dataclass
class TrainSummary:
    """What a finished training run did (also written to ``run_dir/<label>/summary.json``)."""

    label: str
    steps: int
    stages: int
    tokens: int
    response_tokens: int
    wall_time: float
    skipped_steps: int
    final_dir: str
    final_loss: float | None = None
    resumed_from_step: int | None = None
    stage_steps: list[int] = field(default_factory=list)
    config_key: str = ""
    """Fingerprint of the settings the run was trained with (see ``config_key``)."""
    responses: dict[str, Any] | None = None
    """With a generating ``train.responses``: steps per response source, generation seconds and tokens."""
    flops: int | None = None
    """Training compute (``srd_core.models.flops``): 6·N_student per trained token + 2·N_teacher per online
    teacher token."""
    student_params: int | None = None
    teacher_params: int | None = None
    teacher_tokens: int | None = None
    """Tokens the online teacher ran on (0 with a cached teacher signal)."""
    teacher_cache_flops: int | None = None
    """Compute of building the teacher cache this arm read (shared by the arms that read it; counted once)."""
    pacer: str | None = None
    curated: bool | None = None
    """Whether the arm trained on a curation (an SRD-like arm) or on all the data (a reference arm)."""
    match_steps_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
