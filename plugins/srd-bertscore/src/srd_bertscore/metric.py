"""The ``bertscore`` difficulty metric: BERTScore F1 of the student's output, best over the references."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from srd_core.components import DifficultyMetric
from srd_core.errors import PluginError
from srd_core.types import ReflectionRecord, Sample


class BERTScoreParams(BaseModel):
    """Parameters of the bertscore metric (passed to ``bert_score.BERTScorer``)."""

    model_config = ConfigDict(extra="forbid")

    model_type: str = Field(description="Hub model name or a local model directory (offline use).")
    num_layers: int | None = Field(
        None,
        ge=1,
        description="Layer whose embeddings are compared; required for a local directory.",
    )
    batch_size: int = Field(64, ge=1, description="Sentence pairs per forward pass.")
    idf: bool = Field(False, description="Weight tokens by inverse document frequency over the references.")
    device: str | None = Field(None, description="torch device (default: cuda if available, else cpu).")
    use_fast_tokenizer: bool = Field(False, description="Use the model's fast tokenizer.")


class BERTScore(DifficultyMetric):
    """BERTScore F1 of the student's output against the references, max over references (higher = easier)."""

    Params = BERTScoreParams
    params: BERTScoreParams
    higher_is_easier = True

    def __init__(self, params: BaseModel | None = None) -> None:
        super().__init__(params)
        self._scorer: Any = None

    def _build_scorer(self):
        from bert_score import BERTScorer  # deferred: bert_score

        p = self.params
        if Path(p.model_type).exists() and p.num_layers is None:
            raise PluginError(f"bertscore: model_type {p.model_type!r} is a local directory: give num_layers")
        try:
            return BERTScorer(
                model_type=p.model_type,
                num_layers=p.num_layers,
                batch_size=p.batch_size,
                idf=False,
                device=p.device,
                use_fast_tokenizer=p.use_fast_tokenizer,
            )
        except (OSError, KeyError, AssertionError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise PluginError(f"bertscore: cannot load model_type {p.model_type!r}: {first}") from None

    def score(self, samples: Sequence[Sample], reflections: Sequence[ReflectionRecord], model=None) -> list[float]:
        """F1 per sample (a sample with several references gets its best)."""
        if not samples:
            return []
        if self._scorer is None:
            self._scorer = self._build_scorer()
        cands = [r.output for r in reflections]
        refs = [list(s.references) for s in samples]
        if self.params.idf:
            self._scorer.compute_idf([ref for group in refs for ref in group])
            self._scorer.idf = True
        _, _, f1 = self._scorer.score(cands, refs, batch_size=self.params.batch_size)
        return [float(v) for v in f1.tolist()]
