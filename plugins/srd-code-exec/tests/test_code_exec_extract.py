"""Code extraction from generations and test splitting (MBPP lists, assert scripts, HumanEval check)."""

from __future__ import annotations

import pytest
from srd_code_exec.extract import BadTestsError, build_steps, extract_code


def test_extract_prefers_python_fence():
    text = "x\n```text\nnot code\n```\n```python\ndef f():\n    return 1\n```\ntrailing"
    assert extract_code(text) == "def f():\n    return 1\n"


def test_extract_unterminated_fence_and_plain_text():
    assert extract_code("```py\nprint(1)\n") == "print(1)\n"
    assert extract_code("def f(): return 2") == "def f(): return 2"
    assert extract_code("```\nx = 1\n```") == "x = 1\n"


def test_mbpp_list_gives_one_case_per_assert_after_setup():
    steps, entry = build_steps(
        {
            "test_list": ["assert f(1) == 1", "assert f(2) == 2"],
            "test_imports": ["import math"],
            "test_setup_code": "K = 3",
        }
    )
    assert [(s.src, s.case) for s in steps] == [
        ("import math", None),
        ("K = 3", None),
        ("assert f(1) == 1", 0),
        ("assert f(2) == 2", 1),
    ]
    assert entry is None


def test_assert_script_keeps_setup_in_order():
    steps, _ = build_steps({"test": "import math\nassert f(1) == 1\nx = 2\nassert f(x) == 2\n"})
    assert [s.case for s in steps] == [None, 0, None, 1]


def test_humaneval_check_is_unrolled():
    test = (
        "METADATA = {}\n\n"
        "def check(candidate):\n"
        "    '''doc'''\n"
        "    data = [1, 2]\n"
        "    assert candidate(1) == 2\n"
        "    for x in data:\n"
        "        assert candidate(x) > x\n"
        "    assert candidate(0) == 1\n\n"
        "check(add_one)\n"
    )
    steps, entry = build_steps({"test": test, "entry_point": "add_one"})
    assert entry == "add_one"
    assert [s.case for s in steps] == [None, None, 0, 1, 2]
    assert steps[0].src == "METADATA = {}"
    assert steps[3].src.startswith("for x in data:")


@pytest.mark.parametrize("meta", [{}, {"test": "x = 1"}, {"test": "assert (("}, {"test": 3}])
def test_bad_tests_are_rejected(meta):
    with pytest.raises(BadTestsError):
        build_steps(meta)
