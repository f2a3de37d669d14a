"""What an ``eval.jsonl`` row holds, as every reader of run dirs reads it (report, experiment)."""

from __future__ import annotations

from typing import Any

SCORE_KEYS = ("rouge_l", "score", "rougeL")
"""Names an eval row's ROUGE-L ×100 has been stored under, newest first."""

MODEL_ALIASES = {"student": "student_init", "initial_student": "student_init"}
"""Older model labels of eval rows → the current ones."""


def score_of(row: dict[str, Any]) -> float | None:
    """The ROUGE-L ×100 of an eval row, whichever name it is stored under."""
    for key in SCORE_KEYS:
        value = row.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None
