"""Digests of the code that computes an artifact: the source of srd_core modules and of component classes.

Each source file is hashed once per process: for Python source, SHA-256 of its syntax tree without
docstrings, so an edit that changes only formatting, comments or docstrings (``ruff format``, a reworded
docstring) makes no artifact stale; other files, and source that does not parse, by their bytes. The tree's
text is Python's ``ast.dump``, which may differ between Python versions: a new interpreter recomputes once.
A component's code is the source
of the modules that define its class and its own base classes (not the kind's base class in
``srd_core.components``, which only declares the interface, and not the standard library).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
"""The srd_core package directory (module paths in records are relative to its parent)."""
INTERFACE_MODULES = frozenset({"srd_core.components", "builtins"})


_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _without_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        if isinstance(node, _DOCUMENTED) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


def source_text_digest(data: bytes, python: bool = True) -> str:
    """SHA-256 of ``data``: of its syntax tree less docstrings when it is Python source that parses, else of the
    bytes (``"ast:"`` / ``"bytes:"`` prefixes keep the two apart)."""
    if python:
        try:
            tree = _without_docstrings(ast.parse(data))
        except (SyntaxError, ValueError):
            pass
        else:
            return "ast:" + hashlib.sha256(ast.dump(tree, annotate_fields=True).encode()).hexdigest()
    return "bytes:" + hashlib.sha256(data).hexdigest()


@functools.cache
def file_digest(path: str) -> str:
    """The digest of a source file (read once per process, see ``source_text_digest``); ``"missing"`` when it does
    not exist."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return "missing"
    return source_text_digest(data, python=path.endswith(".py"))


def _module_file(name: str) -> str | None:
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None)
    return str(Path(path).resolve()) if path else None


def class_modules(cls: type) -> list[str]:
    """The modules that define ``cls`` and its bases, less interface and standard-library modules."""
    names = []
    for klass in cls.__mro__:
        name = klass.__module__
        if name in INTERFACE_MODULES or name.split(".")[0] in sys.stdlib_module_names or name in names:
            continue
        if _module_file(name) is not None:
            names.append(name)
    return names


def class_digest(cls: type) -> str:
    """SHA-256 over the source files of ``class_modules(cls)``."""
    digest = hashlib.sha256()
    for name in class_modules(cls):
        digest.update(f"{name}\0{file_digest(_module_file(name) or '')}\n".encode())
    return digest.hexdigest()


def package_files(patterns: tuple[str, ...], exclude: frozenset[str] = frozenset()) -> list[str]:
    """srd_core source files matching ``patterns`` (globs under srd_core/), as ``srd_core/<path>``, sorted."""
    found = {p.relative_to(PACKAGE_DIR).as_posix() for pattern in patterns for p in PACKAGE_DIR.glob(pattern)}
    return sorted(f"srd_core/{rel}" for rel in found - exclude)


def source_digest(relative: str) -> str:
    """The digest of ``srd_core/<path>``."""
    return file_digest(str(PACKAGE_DIR.parent / relative))
