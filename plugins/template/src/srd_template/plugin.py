"""A complete srd plugin: one difficulty metric, its Params, and the registration hook."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from srd_core import hookimpl
from srd_core.components import DifficultyMetric
from srd_core.types import ReflectionRecord, Sample


class LengthRatio(DifficultyMetric):
    """How close the output's length is to the reference's: min/max of the word counts (higher = easier)."""

    higher_is_easier = True

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

        unit: str = Field("words", pattern="^(words|chars)$", description="Count words or characters.")

    params: Params

    def score(self, samples: Sequence[Sample], reflections: Sequence[ReflectionRecord], model=None) -> list[float]:
        """Per sample: min(len(output), len(target)) / max(...), 1.0 when both are empty."""

        def size(text: str) -> int:
            return len(text.split()) if self.params.unit == "words" else len(text)

        scores = []
        for sample, reflection in zip(samples, reflections, strict=True):
            a, b = size(reflection.output), size(sample.target)
            scores.append(min(a, b) / max(a, b) if max(a, b) else 1.0)
        return scores


@hookimpl
def register_difficulty_metrics(register):
    register("length_ratio", LengthRatio)
