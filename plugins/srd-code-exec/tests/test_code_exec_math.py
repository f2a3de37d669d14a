"""math_answer: final numeric answer against the reference."""

from __future__ import annotations

from fractions import Fraction

import pytest
from code_exec_support import reflection
from srd_code_exec.metrics import MathAnswer
from srd_code_exec.numeric import final_answer

from srd_core.errors import DataError
from srd_core.types import Sample


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("so 3 + 4 = 7.\n#### 7", Fraction(7)),
        ("The answer is $1,234.50.", Fraction(246900, 200)),
        ("We get \\boxed{3/4} in the end, not 5", Fraction(3, 4)),
        ("first 2 then -13", Fraction(-13)),
        ("no digits here", None),
    ],
)
def test_final_answer(text, value):
    assert final_answer(text) == value


def test_scores_against_meta_answer_and_target():
    metric = MathAnswer(MathAnswer.Params())
    samples = [
        Sample(id="a", prompt="q", references=["... #### 18"]),
        Sample(id="b", prompt="q", references=["text"], meta={"answer": "0.5"}),
        Sample(id="c", prompt="q", references=["#### 10"]),
    ]
    outputs = ["She sells 16 - 3 - 4 = 9 eggs, 9 * 2 = 18 dollars. #### 18", "It is 1/2", "I think 11"]
    assert metric.score(samples, [reflection(o) for o in outputs]) == [1.0, 1.0, 0.0]


def test_reference_without_number_is_a_data_error():
    metric = MathAnswer(MathAnswer.Params())
    with pytest.raises(DataError, match="sample 'x'"):
        metric.score([Sample(id="x", prompt="q", references=["none"])], [reflection("1")])
