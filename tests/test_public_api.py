"""The public API plugins build on: every plugin under plugins/ imports only public srd_core modules, and
``srd_core.api`` resolves every name it lists, lazily."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from paths import REPO

import srd_core
from srd_core import api

PUBLIC = {"srd_core", "srd_core.api", "srd_core.components", "srd_core.context", "srd_core.errors", "srd_core.types"}
"""The modules docs/writing-plugins.md promises; everything else in srd_core may move."""
PLUGIN_SOURCES = sorted({*REPO.glob("plugins/*/src/**/*.py"), *REPO.glob("plugins/template/**/*.py")})


def srd_core_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every srd_core import in ``path``: top level, in functions, under TYPE_CHECKING."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "srd_core"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "srd_core":
            for alias in node.names:  # `from srd_core import io` imports the module srd_core.io
                sub = f"{node.module}.{alias.name}"
                found.append((node.lineno, sub if _is_module(sub) else node.module))
    return found


def _is_module(name: str) -> bool:
    parts = name.split(".")
    return REPO.joinpath(*parts).with_suffix(".py").is_file() or REPO.joinpath(*parts, "__init__.py").is_file()


def test_there_are_plugin_sources():
    assert any("srd_rereflect" in str(p) for p in PLUGIN_SOURCES)
    assert any("template" in str(p) for p in PLUGIN_SOURCES)


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_plugins_import_only_public_modules(path):
    private = [
        f"{path.relative_to(REPO)}:{line}: {module}" for line, module in srd_core_imports(path) if module not in PUBLIC
    ]
    assert not private, "private srd_core modules (use srd_core.api):\n" + "\n".join(private)


def test_the_scan_sees_private_imports(tmp_path):
    source = tmp_path / "p.py"
    source.write_text(
        "from srd_core import io, hookimpl\nfrom srd_core.api import rank_by\n"
        "def f():\n    from srd_core.curation.curate import rank_by\n    import srd_core.config\n"
    )
    assert [m for _, m in srd_core_imports(source)] == [
        "srd_core.io",
        "srd_core",
        "srd_core.api",
        "srd_core.curation.curate",
        "srd_core.config",
    ]


@pytest.mark.parametrize("name", api.__all__)
def test_api_names_resolve(name):
    assert getattr(api, name) is not None
    assert name in dir(api)


def test_api_lists_what_its_type_checking_block_imports():
    tree = ast.parse(Path(api.__file__).read_text(encoding="utf-8"))
    typed = {
        a.asname or a.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("srd_core.")
        for a in node.names
    }
    assert typed == set(api.__all__) == set(api._WHERE)
    with pytest.raises(AttributeError, match="no_such_name"):
        api.no_such_name  # noqa: B018


def test_api_import_is_lazy():
    code = (
        "import sys\nfrom srd_core import api\nfrom srd_core.api import BabyStep, build_metrics\n"
        "assert 'torch' not in sys.modules, 'torch'\nassert 'srd_core.reflection.reflect' not in sys.modules\n"
        "api.reflect_samples\nassert 'srd_core.reflection.reflect' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_component_bases_are_exported_from_srd_core():
    from srd_core import components

    for name, base in components.KIND_BASES.items():
        assert getattr(srd_core, base.__name__) is base, name
        assert base.__name__ in srd_core.__all__
