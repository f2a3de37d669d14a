"""Core asks component contracts, never built-in names: no string literal in ``pipeline/``, ``training/``,
``curation/`` or ``reflection/`` equals the name of a component that srd_core's own entry points register.

A third-party selector, task or teacher signal must get the checks a built-in gets, so the planner and the
engine may not compare ``spec.name`` with ``"fixed_ratio"`` or ``"online"``; they ask the component
(``Selector.planned_keep``, ``TeacherSignal.cached``, ...). The allow-list holds literals that only look like
component names, each with its reason.
"""

from __future__ import annotations

import ast
from importlib.metadata import entry_points

from paths import REPO

CORE_DIRS = ("pipeline", "training", "curation", "reflection")

ALLOWED: dict[tuple[str, str], str] = {
    ("srd_core/training/optim.py", "constant"): "a value of train.lr_scheduler (a Literal of TrainConfig), not the "
    "schedule component",
    ("srd_core/training/optim.py", "linear"): "a value of train.lr_scheduler, not the schedule component",
    ("srd_core/training/optim.py", "cosine"): "a value of train.lr_scheduler, not the schedule component",
    ("srd_core/pipeline/commands.py", "none"): "the word `srd curate` prints for no bins, not the grouping",
    ("srd_core/training/responses.py", "ground_truth"): "a StepResponses.source value (the contract's word for "
    "where a step's responses came from), not the component",
    **{
        (path, "rouge_l"): "the score column of eval rows and eval.jsonl (an artifact field), not the difficulty metric"
        for path in (
            "srd_core/pipeline/run.py",
            "srd_core/pipeline/arms.py",
            "srd_core/training/loop.py",
            "srd_core/training/best_checkpoint.py",
            "srd_core/training/trackers.py",
        )
    },
}


def builtin_names() -> set[str]:
    """Every component name registered by the ``srd`` entry points of srd_core itself."""
    names: set[str] = set()
    for ep in entry_points(group="srd"):
        if not ep.value.startswith("srd_core."):
            continue
        module = ep.load()
        for attr in dir(module):
            hook = getattr(module, attr)
            if attr.startswith("register_") and callable(hook) and attr != "register_commands":
                hook(lambda name, cls: names.add(name))
    return names


def literal_hits(source: str, names: set[str]) -> list[tuple[int, str]]:
    """(line, name) of every string literal of ``source`` that equals one of ``names`` (f-string parts too)."""
    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names
    )


def core_hits(names: set[str]) -> dict[tuple[str, str], list[int]]:
    hits: dict[tuple[str, str], list[int]] = {}
    for folder in CORE_DIRS:
        for path in sorted((REPO / "srd_core" / folder).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            for line, name in literal_hits(path.read_text(encoding="utf-8"), names):
                hits.setdefault((rel, name), []).append(line)
    return hits


def test_the_builtin_names_are_found():
    names = builtin_names()
    assert {"fixed_ratio", "online", "stagewise", "hf", "synthetic", "baby_step", "none", "rrf"} <= names
    assert len(names) >= 30


def test_the_scan_sees_a_name_check():
    source = 'if spec.name == "online":\n    pass\nx = f"{a}"\n"""docstring mentions online"""\n'
    assert literal_hits(source, {"online"}) == [(1, "online")]


def test_core_names_no_builtin_component():
    hits = core_hits(builtin_names())
    unexpected = {key: lines for key, lines in hits.items() if key not in ALLOWED}
    assert not unexpected, "core compares with built-in names; ask the component's contract instead: " + "; ".join(
        f"{path}:{','.join(map(str, lines))} {name!r}" for (path, name), lines in sorted(unexpected.items())
    )


def test_every_allowed_literal_is_still_there():
    """An allow-list entry whose literal is gone must go too (the list stays small and true)."""
    hits = core_hits(builtin_names())
    stale = sorted(key for key in ALLOWED if key not in hits)
    assert not stale, f"allow-list entries no longer needed: {stale}"
