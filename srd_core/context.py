"""Objects handed to metrics and notify-hooks: access to models and the live training state."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srd_core.types import ReflectionRecord, Sample, StagePlan


@dataclass
class ModelAccess:
    """A model a metric may use: the (unwrapped) model, its tokenizer, and the accelerator."""

    model: Any
    tokenizer: Any
    accelerator: Any = None
    config: Any = None


@dataclass
class ScoreTable:
    """Reflection results and metric values of every training sample, in data order."""

    samples: list[Sample]
    reflections: list[ReflectionRecord]
    values: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.samples]


@dataclass
class TrainContext:
    """The live state of a training run, as notify-hooks see it.

    ``stages`` may be edited by ``stage_start`` hooks for stages after ``stage``.
    """

    run_dir: Path
    config: Any
    label: str
    stages: list[StagePlan]
    samples: dict[str, Sample]
    model: Any = None
    tokenizer: Any = None
    accelerator: Any = None
    stage: int = 0
    step: int = 0
    total_steps: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
