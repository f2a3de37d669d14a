"""Text similarity used by difficulty metrics and evaluation: ROUGE-L F1 as the SRD protocol defines it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache


@lru_cache(maxsize=1)
def _scorer():
    # Imported on first use: rouge-score pulls in nltk, seconds of start-up for every `srd` command.
    from rouge_score import rouge_scorer  # deferred: rouge_score

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, references: Sequence[str]) -> float:
    """ROUGE-L F1 in [0, 1] of ``prediction`` against the best of ``references``."""
    scorer = _scorer()
    return max((scorer.score(ref, prediction)["rougeL"].fmeasure for ref in references), default=0.0)
