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
