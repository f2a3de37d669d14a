"""Meta-tests in the style of datasette: every hook is tested and documented with its exact signature."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from srd_core import hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOKS = sorted(name for name, obj in vars(hookspecs).items() if inspect.isfunction(obj) and hasattr(obj, "srd_spec"))


def test_there_are_hooks():
    assert "register_difficulty_metrics" in HOOKS and "stage_start" in HOOKS


def signature_of(name: str) -> str:
    """``name(param: Type, ...) -> Return`` as written in hookspecs.py (annotations are strings there)."""
    return f"{name}{inspect.signature(getattr(hookspecs, name))}".replace("'", "")


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_exact_signature(hook):
    docs = (ROOT / "docs" / "plugin-hooks.md").read_text(encoding="utf-8")
    headings = re.findall(r"^### `(.+?)`$", docs, flags=re.M)
    assert signature_of(hook) in headings, f"docs/plugin-hooks.md lacks a heading `### \\`{signature_of(hook)}\\``"


def test_docs_document_no_unknown_hooks():
    docs = (ROOT / "docs" / "plugin-hooks.md").read_text(encoding="utf-8")
    documented = {h.split("(")[0] for h in re.findall(r"^### `(.+?)`$", docs, flags=re.M)}
    assert documented == set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook):
    tests = "\n".join(p.read_text(encoding="utf-8") for p in ROOT.joinpath("tests").rglob("test_*.py"))
    assert re.search(rf"^def test_hook_{hook}\b", tests, flags=re.M), f"no test named test_hook_{hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_body_is_docstring_only(hook):
    source = inspect.getsource(getattr(hookspecs, hook))
    body = source.split(":", 1)[1] if '"""' in source else source
    assert body.count('"""') == 2 and "return" not in body and "raise" not in body
