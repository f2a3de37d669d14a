"""Objects handed to metrics and notify-hooks: access to models and the live training state."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srd_core.arms import Arm, arm_of
from srd_core.config import SRDConfig
from srd_core.types import ReflectionRecord, Sample, StagePlan

if TYPE_CHECKING:  # annotations only: torch, transformers and accelerate are slow to import
    import torch
    from accelerate import Accelerator
    from transformers import PreTrainedTokenizerBase


@dataclass
class ModelAccess:
    """A model a metric may use: the (unwrapped) model, its tokenizer, and the accelerator."""

    model: torch.nn.Module
    """A causal LM (``transformers`` or ``peft``): ``model(input_ids=..., attention_mask=...).logits``."""
    tokenizer: PreTrainedTokenizerBase
    accelerator: Accelerator | None = None
    config: SRDConfig | None = None


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

    ``stages`` may be edited by ``stage_start`` hooks for stages after ``stage``. ``arm`` is the arm
    being trained (named ``label``): its pacer, schedules, teacher signal and curriculum, resolved from
    ``config`` when not given. Check ``arm.pacer`` (or ``arm.curated``), not the label, to decide
    whether a hook applies: a run may train several arms, named freely.
    """

    run_dir: Path
    config: SRDConfig
    label: str
    stages: list[StagePlan]
    samples: dict[str, Sample]
    model: torch.nn.Module | None = None
    tokenizer: PreTrainedTokenizerBase | None = None
    accelerator: Accelerator | None = None
    stage: int = 0
    step: int = 0
    total_steps: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    arm: Arm = None  # type: ignore[assignment]  # resolved in __post_init__ when not given

    def __post_init__(self) -> None:
        if self.arm is None:
            self.arm = arm_of(self.config, self.label)
