"""The ``hf_evaluate`` difficulty metric: a Hugging Face ``evaluate`` metric scored per sample."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from srd_core.components import DifficultyMetric
from srd_core.errors import PluginError
from srd_core.types import ReflectionRecord, Sample


class EvaluateParams(BaseModel):
    """Parameters of the hf_evaluate metric."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Metric name on the Hub (needs network) or a local metric script or directory.")
    key: str | None = Field(None, description="Result key holding the score (default: the only numeric key).")
    direction: Literal["higher_is_easier", "lower_is_easier"] = Field(
        "higher_is_easier",
        description="Whether a higher score means an easier sample (BLEU) or harder (TER).",
    )
    config_name: str | None = Field(None, description="Metric configuration passed to evaluate.load.")
    compute_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra keyword arguments of compute() (e.g. use_aggregator: false).",
    )
    references: Literal["best", "all"] = Field(
        "best",
        description="best: score each reference separately and keep the best; all: pass the reference list.",
    )


class EvaluateMetric(DifficultyMetric):
    """Any Hugging Face `evaluate` metric (by name or local script), computed per sample."""

    Params = EvaluateParams
    params: EvaluateParams

    def __init__(self, params: BaseModel | None = None) -> None:
        super().__init__(params)
        self.higher_is_easier = self.params.direction == "higher_is_easier"
        self._module: Any = None

    def _load(self):
        import evaluate  # deferred: evaluate

        try:
            return evaluate.load(self.params.path, self.params.config_name)
        except Exception as exc:  # evaluate raises many types (FileNotFoundError, ConnectionError, ImportError)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise PluginError(f"hf_evaluate: cannot load metric {self.params.path!r}: {first}") from None

    def score(self, samples: Sequence[Sample], reflections: Sequence[ReflectionRecord], model=None) -> list[float]:
        """One score per sample (the best over its references unless ``references: all``)."""
        if not samples:
            return []
        if self._module is None:
            self._module = self._load()
        if self.params.references == "all":
            return self._per_item([r.output for r in reflections], [list(s.references) for s in samples])
        owners = [i for i, s in enumerate(samples) for _ in s.references]
        preds = [reflections[i].output for i in owners]
        refs = [ref for s in samples for ref in s.references]
        scores = self._per_item(preds, refs)
        best: list[float | None] = [None] * len(samples)
        pick = max if self.higher_is_easier else min
        for owner, value in zip(owners, scores, strict=True):
            current = best[owner]
            best[owner] = value if current is None else pick(current, value)
        return [float(v) for v in cast("list[float]", best)]  # every sample has a reference (its target)

    def _per_item(self, preds: list[str], refs: list[Any]) -> list[float]:
        """Per-item scores: from one batched call when the metric returns a list, else one call per item."""
        result = self._compute(preds, refs)
        key = self._key(result)
        value = result[key]
        if isinstance(value, (list, tuple)) and len(value) == len(preds):
            return [self._number(v, key) for v in value]
        return [
            self._number(self._compute([p], [r])[key], key)
            for p, r in tqdm(
                list(zip(preds, refs, strict=True)), desc=f"hf_evaluate {self.params.path}", disable=len(preds) < 50
            )
        ]

    def _compute(self, preds: list[str], refs: list[Any]) -> dict[str, Any]:
        try:
            result = self._module.compute(predictions=preds, references=refs, **self.params.compute_kwargs)
        except (TypeError, ValueError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise PluginError(f"hf_evaluate {self.params.path!r}: compute failed: {first}") from None
        if not isinstance(result, dict):
            raise PluginError(
                f"hf_evaluate {self.params.path!r}: compute returned {type(result).__name__}, expected a dict"
            )
        return result

    def _key(self, result: dict[str, Any]) -> str:
        if self.params.key is not None:
            if self.params.key not in result:
                raise PluginError(
                    f"hf_evaluate {self.params.path!r}: key {self.params.key!r} not in the result "
                    f"(keys: {', '.join(result)})"
                )
            return self.params.key
        numeric = [k for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(numeric) != 1:
            raise PluginError(f"hf_evaluate {self.params.path!r}: give `key` (result keys: {', '.join(result)})")
        return numeric[0]

    def _number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise PluginError(f"hf_evaluate {self.params.path!r}: {key} is {value!r}, expected a finite number")
        return float(value)
