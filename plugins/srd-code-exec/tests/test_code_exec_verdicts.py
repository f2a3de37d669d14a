"""Honest solutions keep their scores under the judge: MBPP test_list asserts and HumanEval check()."""

from __future__ import annotations

import logging
import shutil

import pytest
from code_exec_support import fast_metric, fenced, reflection, sample
from pydantic import ValidationError
from srd_code_exec import metrics
from srd_code_exec.metrics import TRUST_WARNING, CodeExec
from srd_code_exec.sandbox import Step

LAUNCHERS = ["bwrap", "builtin"] if shutil.which("bwrap") else ["builtin"]


@pytest.fixture(scope="module", params=LAUNCHERS)
def metric(request):
    return fast_metric(launcher=request.param)


def mbpp(metric, code, test_list, **meta):
    s = sample(None, **meta)
    s.meta["test_list"] = test_list
    return metric.score([s], [reflection(fenced(code))])[0]


def humaneval(metric, code, test, entry_point):
    return metric.score([sample(test, entry_point)], [reflection(fenced(code))])[0]


REMOVE_OCC = (
    "def remove_Occ(s, ch):\n"
    "    s = s.replace(ch, '', 1)\n"
    "    i = s.rfind(ch)\n"
    "    return s if i < 0 else s[:i] + s[i + 1:]\n"
)
SIMILAR = "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n"


def test_mbpp_honest_solutions_score_one(metric):
    assert (
        mbpp(
            metric,
            REMOVE_OCC,
            [
                'assert remove_Occ("hello","l") == "heo"',
                'assert remove_Occ("abcda","a") == "bcd"',
                'assert remove_Occ("PHP","P") == "H"',
            ],
        )
        == 1.0
    )
    assert (
        mbpp(
            metric,
            SIMILAR,
            [
                "assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))",
                "assert set(similar_elements((1, 2, 3, 4),(5, 4, 3, 7))) == set((3, 4))",
            ],
        )
        == 1.0
    )
    code = "import math\ndef area(r):\n    return math.pi * r * r\n"
    assert (
        mbpp(
            metric,
            code,
            ["assert math.isclose(area(1), 3.141592653589793)", "assert area(0) == 0"],
            test_imports=["import math"],
        )
        == 1.0
    )
    code = "from collections import Counter\ndef count(xs):\n    return Counter(xs)\n"
    assert mbpp(metric, code, ["assert count('aab') == {'a': 2, 'b': 1}"]) == 1.0


def test_mbpp_partial_solution_scores_its_pass_rate(metric):
    code = "def is_prime(n):\n    return n % 2 == 1\n"  # wrong on 1 and 9
    tests = ["assert is_prime(3)", "assert not is_prime(4)", "assert is_prime(1) == False", "assert not is_prime(9)"]
    assert mbpp(metric, code, tests) == 0.5


HE_TEST = (
    "METADATA = {'author': 'jt'}\n\n"
    "def check(candidate):\n"
    "    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True\n"
    "    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False\n"
    "    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True\n"
    "    assert candidate([1.1, 2.2, 3.1, 4.1, 5.1], 1.0) == True\n"
)
HE_HONEST = (
    "def has_close_elements(numbers, threshold):\n"
    "    for i, a in enumerate(numbers):\n"
    "        for j, b in enumerate(numbers):\n"
    "            if i != j and abs(a - b) < threshold:\n"
    "                return True\n"
    "    return False\n"
)


def test_modules_the_tests_take_from_the_program_are_the_judges_own(metric):
    """A test that uses ``math`` imported only by the solution is judged with the judge's own math."""
    code = "import math\ndef area(r):\n    return math.pi * r * r\n"
    assert mbpp(metric, code, ["assert math.isclose(area(1), 3.141592653589793)"]) == 1.0
    fake = (
        "import types\nmath = types.ModuleType('math')\nmath.isclose = lambda *a, **k: True\n"
        "def area(r):\n    return -1\n"
    )
    assert mbpp(metric, fake, ["assert math.isclose(area(1), 3.141592653589793)"]) == 0.0
    renamed = "import os as math\ndef area(r):\n    return 3.141592653589793\n"  # not the module the test means
    assert mbpp(metric, renamed, ["assert math.isclose(area(1), 3.141592653589793)"]) == 0.0


def test_humaneval_honest_solution_scores_one(metric):
    assert humaneval(metric, HE_HONEST, HE_TEST, "has_close_elements") == 1.0
    loop = (
        "def check(candidate):\n    for x in range(5):\n        assert candidate(x) == x * x\n"
        "    assert abs(candidate(1.5) - 2.25) < 1e-9\n"
    )
    assert humaneval(metric, "def sq(x):\n    return x * x", loop, "sq") == 1.0


def test_humaneval_partial_solution_scores_its_pass_rate(metric):
    assert (
        humaneval(metric, "def has_close_elements(numbers, threshold):\n    return True", HE_TEST, "has_close_elements")
        == 0.75
    )


def test_cases_are_judged_outside_the_sandbox(metric):
    result = metric.sandbox.run(
        SIMILAR,
        [Step("assert similar_elements((1,), (1,)) == (1,)", 0), Step("assert similar_elements([], []) == ()", 1)],
    )
    assert result.passed == [True, True] and result.judged == [True, True]


SETUP_CLASS = "class Node:\n    def __init__(self, v):\n        self.v = v\n"


def test_unjudgeable_cases_fail_by_default_and_are_the_programs_word_when_trusted(caplog):
    """An argument with no plain-data form (an object of a class the test defines) cannot cross."""
    code = "def value(node):\n    return node.v\n"
    steps = [Step(SETUP_CLASS), Step("assert value(Node(3)) == 3", 0), Step("assert value.__name__ == 'value'", 1)]
    default = fast_metric().sandbox.run(code, steps)
    assert default.passed == [False, False] and default.judged == [False, False]
    metrics._warn_trust_once.cache_clear()  # whatever an earlier test warned
    with caplog.at_level(logging.WARNING, logger="srd.code_exec"):
        trusting = [fast_metric(unjudged="trust_candidate_process") for _ in range(2)]
    assert [r.message for r in caplog.records].count(TRUST_WARNING) == 1  # once, however many instances
    trusted = trusting[0].sandbox.run(code, steps)
    assert trusted.passed == [True, True] and trusted.judged == [False, False]
    # The candidate cannot make a case unjudgeable: an opaque return value just fails.
    opaque = fast_metric().sandbox.run(
        "class O:\n    def __eq__(s, o): return True\ndef value(n):\n    return O()", [Step("assert value(3) == 3", 0)]
    )
    assert opaque.passed == [False] and opaque.judged == [True]


REPLACED_EXEC = "import builtins\nbuiltins.exec = lambda *args, **kwargs: None\ndef value(node):\n    return -1\n"


def test_replaced_exec_cannot_pass_unjudged_cases_by_default(metric):
    """With ``exec`` replaced, every case run in the program's process would 'pass': not under the default."""
    tests = ["assert value(Node(3)) == 3", "assert value(Node(4)) == 4"]
    assert mbpp(metric, REPLACED_EXEC, tests, test_setup_code=SETUP_CLASS) == 0.0
    check = "def check(candidate):\n    class Box:\n        v = 5\n    assert candidate(Box()) == 5\n"
    assert humaneval(metric, REPLACED_EXEC, check, "value") == 0.0


def test_trusting_the_candidate_process_is_forgeable():
    """Why that mode is named so: the same program scores 1.0 there."""
    metric = fast_metric(unjudged="trust_candidate_process")
    assert mbpp(metric, REPLACED_EXEC, ["assert value(Node(3)) == 3"], test_setup_code=SETUP_CLASS) == 1.0


def test_the_old_best_effort_name_is_refused_with_its_new_name():
    with pytest.raises(ValidationError, match="trust_candidate_process"):
        CodeExec.Params(unjudged="sandbox")
