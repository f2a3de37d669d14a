"""The package's layering, read from the source with ``ast``: no import cycles, and lower layers never
import higher ones (every import counts: inside functions and under ``TYPE_CHECKING`` too).

One exception for cycles only: an import under ``if TYPE_CHECKING:`` names types for annotations and never
runs, so it cannot make an import cycle; the typed plugin contract needs it (``hookspecs`` names the config
and the training context, whose modules reach the plugin manager, which loads ``hookspecs``). Such imports
still obey the layers."""

from __future__ import annotations

import pytest
from import_graph import ImportGraph
from paths import REPO

PACKAGE = REPO / "srd_core"

LAYERS: dict[str, int] = {
    "core": 0,  # the modules directly in srd_core/ (hookspecs, config, errors, ...): the plugin contract
    "data": 1,
    "models": 2,
    "reflection": 3,
    "curation": 3,
    "evaluation": 3,  # siblings: none imports another
    "builtins": 4,  # built-in plugins: found through entry points, imported by nothing in srd_core
    "training": 5,
    "report": 6,
    "experiment": 6,
    "pipeline": 7,
    "top": 8,  # cli.py and plugin_listing.py: the commands
    "api": 9,  # api.py: the public names for plugins, re-exported from every layer; imported by nothing here
}
TOP_MODULES = {"srd_core.cli", "srd_core.plugin_listing"}
API_MODULES = {"srd_core.api"}


def graph(type_checking: bool = True) -> dict[str, set[str]]:
    """Module -> the srd_core modules it imports anywhere (``from pkg import submodule``: the submodule).

    ``type_checking=False`` leaves out the imports under ``if TYPE_CHECKING:`` (they never run).
    """
    imports = ImportGraph([PACKAGE]).imports
    return {
        name: {m for imp in found if type_checking or not imp.type_checking for m in imp.ours} - {name}
        for name, found in imports.items()
    }


def layer_of(module: str) -> str:
    parts = module.split(".")
    if module in TOP_MODULES:
        return "top"
    if module in API_MODULES:
        return "api"
    if len(parts) == 1 or (len(parts) == 2 and parts[1] not in LAYERS):
        return "core"
    return parts[1]


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_every_subpackage_has_a_layer():
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert subpackages <= set(LAYERS), subpackages - set(LAYERS)


def test_no_import_cycles():
    cycle = find_cycle(graph(type_checking=False))
    assert cycle is None, " -> ".join(cycle or [])


def test_lower_layers_never_import_higher_ones():
    bad = []
    for module, deps in graph().items():
        here = layer_of(module)
        for dep in deps:
            there = layer_of(dep)
            if LAYERS[there] > LAYERS[here] or (LAYERS[there] == LAYERS[here] and there != here):
                bad.append(f"{module} ({here}) imports {dep} ({there})")
            if there == "builtins" and here not in ("builtins", "api"):  # api: built-ins to subclass
                bad.append(f"{module} imports the built-in plugin {dep}: use the registry")
    assert not bad, "\n".join(sorted(bad))


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", ["srd_core.training.loop", "srd_core.cli"])
def test_graph_sees_imports_inside_functions(module):
    assert graph()[module], f"{module} imports nothing?"


def test_graph_without_type_checking_leaves_out_only_annotation_imports():
    full, runtime = graph(), graph(type_checking=False)
    assert "srd_core.context" in full["srd_core.hookspecs"]  # an annotation-only import
    assert "srd_core.context" not in runtime["srd_core.hookspecs"]
    assert runtime["srd_core.plugins"] == full["srd_core.plugins"]  # plugins' imports all run
