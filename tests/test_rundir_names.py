"""Every run-dir artifact is named once, in srd_core/rundir.py: no other srd_core module spells an artifact's
file name (``*.jsonl``, ``*.json``, ``*.html``, ``*.yaml``, ``*.png``) or joins a path with a literal folder
name, so renaming an artifact is one edit and no reader can look for a name the writer no longer uses.

Read with ``ast`` (string constants and f-strings; docstrings left out). What may still be spelled elsewhere
is listed below with the reason: names that are not run-dir artifacts.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from paths import REPO

from srd_core import rundir
from srd_core.config import RESERVED_ARM_NAMES

PACKAGE = REPO / "srd_core"
ARTIFACT = re.compile(r"^[\w.{}-]*[\w}]\.(jsonl|json|html|yaml|png)$")

NOT_RUN_DIR_FILES = {
    # files of a Hugging Face model, tokenizer, PEFT adapter or saved dataset: their libraries name them
    "config.json",
    "adapter_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "dataset_dict.json",
}
ALLOWED: dict[str, set[str]] = {
    # files inside one artifact folder whose format that module alone writes and reads, named once there: a
    # checkpoint's state and responses, a best checkpoint's record, a teacher cache's meta and shard hashes, the
    # srd record saved beside a model's weights
    "srd_core/training/checkpoint.py": {"state.json", "responses.json"},
    "srd_core/training/best_checkpoint.py": {"best.json"},
    "srd_core/training/teacher_cache.py": {"meta.json"},
    "srd_core/training/cache_store.py": {"shard-{}.sha256.json"},
    "srd_core/models/loading.py": {"srd_model.json"},
    # the source tree, not a run dir
    "srd_core/code_digest.py": {"srd_core"},
    # a saved Hugging Face dataset directory holds state.json (not a checkpoint's)
    "srd_core/builtins/tasks.py": {"state.json"},
    # the experiment directory's own layout (not a run dir): the experiment's rows, page and record, the
    # invocations it ran, and its configs/, done/, logs/ and runs/ folders
    "srd_core/experiment/aggregate.py": {"experiment.jsonl", "experiment.html", "experiment.json"},
    "srd_core/experiment/runner.py": {"invocations.jsonl"},
    "srd_core/experiment/layout.py": {"configs", "done", "logs"},
    "srd_core/experiment/spec.py": {"runs"},
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
        # attribute docstrings: a string statement after an assignment
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            found.add(id(node.value))
    return found


def _text(node: ast.AST) -> str | None:
    """A string constant, or an f-string with ``{}`` for each placeholder."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def literal_names(path: Path) -> set[str]:
    """Artifact-like file names and literal path segments (``x / "name"``, ``f"{x}/name"``) in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    in_fstring = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip or id(node) in in_fstring:
            continue
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            found |= {t for side in (node.left, node.right) if (t := _text(side)) is not None and "{" not in t}
        text = _text(node)
        if text is None:
            continue
        if ARTIFACT.match(text) and not text.startswith("{}."):
            found.add(text)
        elif "/" in text and "{}" in text and not re.search(r"[\s<>]", text):
            found |= {seg for seg in text.split("/") if seg and seg != "{}"}
    return found


def test_no_artifact_name_outside_rundir():
    offending = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel == "srd_core/rundir.py":
            continue
        names = literal_names(path) - NOT_RUN_DIR_FILES - ALLOWED.get(rel, set())
        if names:
            offending[rel] = sorted(names)
    assert not offending, f"artifact names spelled outside srd_core/rundir.py (use its constants): {offending}"
    unused = {rel: sorted(names - literal_names(REPO / rel)) for rel, names in ALLOWED.items()}
    assert not any(unused.values()), f"allowed names no longer spelled there (shorten ALLOWED): {unused}"


def test_the_check_finds_literal_names(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        '"""Writes eval.jsonl."""\nX = "curation.jsonl"\ny = run / "final"\n'
        'z = f"{run}/checkpoints/{step}"\nw = f"reflection.partial.rank{r}.jsonl"\n'
        'ok = run / CONFIG_FILE\nmsg = f"{n} rows read from {p}"\n'
    )
    assert literal_names(source) == {"curation.jsonl", "final", "checkpoints", "reflection.partial.rank{}.jsonl"}


def test_arm_names_cannot_take_a_run_dir_folder():
    """config.py cannot import rundir (rundir imports config), so its reserved arm names are checked here."""
    folders = {rundir.PREPARED_DIR, rundir.PROVENANCE_DIR, rundir.PLOTS_DIR, rundir.TEACHER_CACHE_DIR}
    assert folders <= RESERVED_ARM_NAMES
