"""The final numeric answer of a text (GSM8K ``#### 42``, ``\\boxed{3/4}``, "the answer is 7", last number)."""

from __future__ import annotations

import re
from fractions import Fraction

NUMBER = r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?"
MARKED = [
    re.compile(r"\\boxed\{\s*(?:\\\$)?\s*(" + NUMBER + r")\s*\}"),
    re.compile(r"####\s*\$?\s*(" + NUMBER + r")"),
    re.compile(r"answer\s*(?:is|:|=)\s*\$?\s*(" + NUMBER + r")", re.IGNORECASE),
]
ANY_NUMBER = re.compile(NUMBER)


def parse_number(text: str) -> Fraction:
    """``"1,234.5"`` → 2469/2, ``"3 / 4"`` → 3/4."""
    return Fraction(text.replace(",", "").replace(" ", ""))


def final_answer(text: str) -> Fraction | None:
    """The last marked answer (boxed, ``####``, "answer is"), else the last number, else None."""
    for pattern in MARKED:
        found = pattern.findall(text)
        if found:
            return _safe(found[-1])
    found = ANY_NUMBER.findall(text)
    return _safe(found[-1]) if found else None


def _safe(text: str) -> Fraction | None:
    try:
        return parse_number(text)
    except (ValueError, ZeroDivisionError):
        return None


def same_number(a: Fraction, b: Fraction, rel_tol: float) -> bool:
    """Equal up to ``rel_tol`` relative to the reference ``b`` (absolute below 1)."""
    return abs(a - b) <= Fraction(rel_tol) * max(Fraction(1), abs(b))
