"""From a generation and a sample's metadata to a program and its test steps (MBPP / HumanEval)."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

from srd_code_exec.sandbox import Step

FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
PYTHON_TAGS = {"python", "py", "python3"}


def extract_code(text: str) -> str:
    """The first ```python fenced block (else the first fenced block, else the whole text)."""
    blocks = FENCE.findall(text)
    for tag, body in blocks:
        if tag.lower() in PYTHON_TAGS:
            return body
    return blocks[0][1] if blocks else text


class BadTestsError(ValueError):
    """The sample's tests cannot be parsed or contain no test case."""


def build_steps(meta: Mapping[str, Any]) -> tuple[list[Step], str | None]:
    """Set-up and test-case steps from ``meta``, and the entry point the tests call as ``candidate``.

    Reads ``test_imports`` / ``test_setup_code`` (set-up), then ``test_list`` (one case per
    assertion, MBPP) or ``test`` (a list of assertions, or source: each top-level ``assert`` is a case,
    other statements are set-up; a HumanEval ``def check(candidate)`` is unrolled so that each of its
    statements containing an ``assert`` is a case and ``candidate`` is ``entry_point``).
    """
    steps: list[Step] = []
    imports = meta.get("test_imports") or []
    if isinstance(imports, str):
        imports = [imports]
    steps += [Step(str(src)) for src in imports]
    if meta.get("test_setup_code"):
        steps.append(Step(str(meta["test_setup_code"])))
    tests = meta.get("test_list") if meta.get("test_list") is not None else meta.get("test")
    entry_point = meta.get("entry_point") or None
    if tests is None:
        raise BadTestsError("no tests: expected meta field `test` or `test_list`")
    if isinstance(tests, list):
        sources = [str(t) for t in tests]
    elif isinstance(tests, str):
        sources = None
    else:
        raise BadTestsError(f"`test` must be a string or a list of strings, got {type(tests).__name__}")
    n = 0
    if sources is not None:
        for src in sources:
            steps.append(Step(src, n))
            n += 1
    else:
        assert isinstance(tests, str)  # checked above
        try:
            module = ast.parse(tests)
        except SyntaxError as exc:
            raise BadTestsError(f"`test` is not valid Python (line {exc.lineno}: {exc.msg})") from None
        check = _check_function(module) if entry_point else None
        body = check.body if check is not None else module.body
        if check is not None:  # module-level set-up (imports, constants) besides check itself
            steps += [Step(ast.unparse(s)) for s in module.body if s is not check and not _calls(s, "check")]
        for stmt in body:
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # a docstring
            if _has_assert(stmt):
                steps.append(Step(ast.unparse(stmt), n))
                n += 1
            elif not _calls(stmt, "check"):
                steps.append(Step(ast.unparse(stmt)))
    if n == 0:
        raise BadTestsError("the tests contain no assert statement")
    return steps, entry_point


def _check_function(module: ast.Module) -> ast.FunctionDef | None:
    for stmt in module.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "check":
            return stmt
    return None


def _has_assert(stmt: ast.stmt) -> bool:
    return any(isinstance(node, ast.Assert) for node in ast.walk(stmt))


def _calls(stmt: ast.stmt, name: str) -> bool:
    """A bare top-level call ``name(...)`` (HumanEval's trailing ``check(entry_point)``)."""
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Name)
        and stmt.value.func.id == name
    )
