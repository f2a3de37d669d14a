"""Built-in difficulty metrics: how well the initial student did on each training sample."""

from __future__ import annotations

from collections.abc import Sequence

from tqdm.auto import tqdm

from srd_core.components import DifficultyMetric
from srd_core.context import ModelAccess
from srd_core.evaluation.rouge import rouge_l
from srd_core.hookspecs import hookimpl
from srd_core.types import ReflectionRecord, Sample


class RougeL(DifficultyMetric):
    """ROUGE-L F1 of the student's reflection output against the references (best reference).

    Higher is easier: the student already answers like the ground truth.
    """

    higher_is_easier = True

    def score(
        self,
        samples: Sequence[Sample],
        reflections: Sequence[ReflectionRecord],
        model: ModelAccess | None = None,
    ) -> list[float]:
        pairs = zip(samples, reflections, strict=True)
        return [
            rouge_l(reflection.output, sample.references)
            for sample, reflection in tqdm(
                pairs, total=len(samples), desc="rouge_l", unit="sample", disable=None, leave=False
            )
        ]


class CrossEntropy(DifficultyMetric):
    """The student's teacher-forced cross-entropy on the ground-truth response (from the reflection).

    Higher is harder: the student finds the reference unlikely.
    """

    higher_is_easier = False

    def score(
        self,
        samples: Sequence[Sample],
        reflections: Sequence[ReflectionRecord],
        model: ModelAccess | None = None,
    ) -> list[float]:
        return [float(reflection.ce) for reflection in reflections]


@hookimpl
def register_difficulty_metrics(register):
    """Register the built-in difficulty metrics."""
    register("rouge_l", RougeL)
    register("cross_entropy", CrossEntropy)
