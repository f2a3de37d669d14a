"""The import statements of our own packages, read with ``ast``: where each one sits (module level, inside a
function, under ``if TYPE_CHECKING:``), which of our modules it runs and which third-party packages it loads.

Shared by ``test_layout.py`` (the layers and cycles) and ``test_deferred_imports.py`` (which function-level
imports are needed); nothing here imports the code it reads.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# The comment a needed function-level import carries: ``# deferred: torch`` (or ``torch, peft``), text may follow.
DEFERRED = re.compile(r"#\s*deferred:\s*([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*)")

# The package a comment names first, most significant first (start-up time); the rest alphabetically.
SIGNIFICANCE = ("torch", "transformers", "accelerate", "datasets", "matplotlib", "sklearn", "scipy", "peft")


def module_name(path: Path, root: Path) -> str:
    """``srd_core.training.loop`` for ``root/srd_core/training/loop.py`` (a package's ``__init__``: the package)."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def our_packages(repo: Path) -> list[Path]:
    """The package directories we own: ``srd_core`` and each plugin distribution's under ``plugins/*/src``."""
    return [repo / "srd_core", *sorted(p.parent for p in repo.glob("plugins/*/src/*/__init__.py"))]


def find_modules(packages: Iterable[Path]) -> dict[str, Path]:
    """Module name -> file for every module of the given package directories."""
    return {module_name(path, package.parent): path for package in packages for path in sorted(package.rglob("*.py"))}


def parents(module: str) -> list[str]:
    """``a``, ``a.b`` for ``a.b.c``: the packages whose ``__init__`` runs before it."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def is_stdlib(top: str) -> bool:
    return top in sys.stdlib_module_names


@dataclass(frozen=True)
class Import:
    """One import statement of a module we own."""

    node: ast.Import | ast.ImportFrom
    function: str | None  # the innermost enclosing function, None at module level
    type_checking: bool  # under ``if TYPE_CHECKING:`` (never runs)
    ours: frozenset[str]  # the modules of ours it names (``from pkg import sub``: the submodule), no parents
    third_party: frozenset[str]  # top-level names of the non-stdlib packages it imports

    @property
    def runs_at_import(self) -> bool:
        return self.function is None and not self.type_checking

    @property
    def lineno(self) -> int:
        return self.node.lineno


def absolute_module(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The module a ``from`` import reads, relative imports resolved against ``importer``."""
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _tops(known: set[str]) -> set[str]:
    return {k.split(".")[0] for k in known}


def _walk(tree: ast.Module) -> Iterable[tuple[ast.AST, str | None, bool]]:
    """Every node with the innermost function around it and whether it sits under ``if TYPE_CHECKING:``."""
    stack: list[tuple[ast.AST, str | None, bool]] = [(tree, None, False)]
    while stack:
        node, function, typing_only = stack.pop()
        yield node, function, typing_only
        inner = node.name if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack += [(child, inner, True) for child in node.body]
            stack += [(child, inner, typing_only) for child in node.orelse]
            stack.append((node.test, inner, typing_only))
            continue
        stack += [(child, inner, typing_only) for child in ast.iter_child_nodes(node)]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path, module: str, known: set[str]) -> list[Import]:
    """Every import statement in ``path`` (module ``module``), in source order."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    tops = _tops(known)
    found = []
    for node, function, typing_only in _walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Import):
            names = {a.name for a in node.names}
        else:
            base = absolute_module(node, module, is_package)
            subs = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known}
            # `from pkg import sub` names the submodule; the package counts when a name of its own is imported
            names = subs | ({base} if len(subs) < len(node.names) else set())
        ours = {n for n in names if n in known}
        third = {n.split(".")[0] for n in names if n.split(".")[0] not in tops and not is_stdlib(n.split(".")[0])}
        found.append(Import(node, function, typing_only, frozenset(ours), frozenset(third)))
    return sorted(found, key=lambda i: (i.node.lineno, i.node.col_offset))


class ImportGraph:
    """Our modules' imports, and each module's third-party closure: the non-stdlib packages importing it loads.

    The closure of a module is what its module-level imports (not those inside functions or under
    ``TYPE_CHECKING``) load, directly or through our modules they import at module level; importing a module
    runs its parent packages' ``__init__`` first, so those count too.
    """

    def __init__(self, packages: Iterable[Path], baseline: Iterable[str] = ()) -> None:
        """``baseline``: third-party packages every module loads anyway (``loaded_by_importing("srd_core")``),
        through dependencies of theirs that ``ast`` cannot see (pydantic loads annotated_types)."""
        self.baseline = frozenset(baseline)
        self.paths = find_modules(packages)
        known = set(self.paths)
        self.imports = {name: imports(path, name, known) for name, path in self.paths.items()}
        self._closures: dict[str, frozenset[str]] = {}

    def runtime_deps(self, module: str) -> set[str]:
        """Our modules that importing ``module`` runs directly (its parents and its module-level imports')."""
        deps = {p for p in parents(module) if p in self.paths}
        for imp in self.imports[module]:
            if imp.runs_at_import:
                deps |= self.with_parents(imp.ours)
        return deps - {module}

    def with_parents(self, modules: Iterable[str]) -> set[str]:
        return {m for module in modules for m in (*parents(module), module) if m in self.paths}

    def reached(self, modules: Iterable[str]) -> set[str]:
        """``modules`` and every module of ours that importing them runs."""
        seen: set[str] = set()
        todo = list(self.with_parents(modules))
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo += self.runtime_deps(module) - seen
        return seen

    def closure(self, module: str) -> frozenset[str]:
        """The third-party packages importing ``module`` loads (by the module-level imports of ours it runs)."""
        if module not in self._closures:
            self._closures[module] = frozenset(
                pkg
                for mod in self.reached([module])
                for imp in self.imports[mod]
                if imp.runs_at_import
                for pkg in imp.third_party
            )
        return self._closures[module]

    def added(self, module: str, imp: Import) -> set[str]:
        """The third-party packages ``imp`` (in ``module``) loads that importing ``module`` has not loaded yet."""
        loads = set(imp.third_party)
        for target in imp.ours:
            loads |= self.closure(target)
        return loads - self.closure(module) - self.baseline

    def function_imports(self) -> Iterable[tuple[str, Import, set[str]]]:
        """(module, import, the packages it adds) for every import inside a function, module by module."""
        for module in sorted(self.imports):
            for imp in self.imports[module]:
                if imp.function is not None and not imp.type_checking:
                    yield module, imp, self.added(module, imp)


def loaded_by_importing(module: str) -> frozenset[str]:
    """The third-party top-level packages that importing ``module`` loads, measured in a fresh interpreter."""
    code = f"import sys, {module}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return frozenset(m for m in loaded if not is_stdlib(m) and not m.startswith("_") and m != module.split(".")[0])


def most_significant(packages: Iterable[str]) -> str:
    return min(packages, key=lambda p: (SIGNIFICANCE.index(p) if p in SIGNIFICANCE else len(SIGNIFICANCE), p))


def deferred_comment(lines: list[str], imp: Import) -> set[str] | None:
    """The packages a ``# deferred: ...`` comment names on the import's lines or the line just above, or None."""
    line = deferred_line(lines, imp.node)
    if line is None:
        return None
    match = DEFERRED.search(lines[line - 1])
    assert match is not None
    return {name.strip() for name in match.group(1).split(",")}


def deferred_line(lines: list[str], node: ast.stmt) -> int | None:
    """The line (1-based) of the ``# deferred:`` comment of the import ``node``: on one of its lines, or alone on
    the line above it."""
    own = [n for n in range(node.lineno, node.end_lineno + 1) if DEFERRED.search(lines[n - 1])]
    if own:
        return own[0]
    above = node.lineno - 1
    if above >= 1 and lines[above - 1].lstrip().startswith("#") and DEFERRED.search(lines[above - 1]):
        return above
    return None


def problems(graph: ImportGraph, root: Path) -> list[str]:
    """One line per function-level import that breaks the rule (paths relative to ``root``): an import inside a
    function must load a third-party package its module has not loaded, and say ``# deferred: <pkg>`` naming only
    packages it adds; any other belongs at module level."""
    found = []
    for module, imp, added in graph.function_imports():
        path = graph.paths[module]
        relative = path.relative_to(root).as_posix()
        where = f"{relative}:{imp.lineno}: `{ast.unparse(imp.node)}` in {imp.function}()"
        named = deferred_comment(path.read_text(encoding="utf-8").splitlines(), imp)
        if not added:
            why = (
                "imports the standard library only"
                if not (imp.ours or imp.third_party)
                else (f"loads no third-party package that importing {module} has not loaded already")
            )
            found.append(f"{where} {why}: move it to module level")
        elif named is None:
            found.append(f"{where} needs `# deferred: {most_significant(added)}` (it adds {', '.join(sorted(added))})")
        elif not named <= added:
            found.append(
                f"{where}: `# deferred:` names {', '.join(sorted(named - added))}, which it does not add"
                f" (it adds {', '.join(sorted(added))})"
            )
    return found
