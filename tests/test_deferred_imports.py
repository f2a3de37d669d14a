"""Imports inside functions only where they keep a package out (issue #21), read from the source with ``ast``.

An import inside a function is justified when it loads a third-party package that importing its module has not
loaded already (``tests/import_graph.py`` computes each module's closure: what its module-level imports load,
through our modules too, parent packages' ``__init__`` included; what ``import srd_core`` loads anyway, such as
pydantic's own dependencies, counts as loaded everywhere). That is start-up time (torch, transformers,
matplotlib stay out of ``srd --help`` and ``srd config validate``) and optional dependencies (peft, bert_score,
evaluate, ...). Such an import says which package it keeps out, ``# deferred: torch``, on its line or the line
above; every other import goes to module level, where the dependency graph can be read.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from import_graph import ImportGraph, loaded_by_importing, our_packages, problems
from paths import REPO


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return ImportGraph(our_packages(REPO), baseline=loaded_by_importing("srd_core"))


def test_function_level_imports_keep_a_package_out_and_say_which(graph):
    bad = problems(graph, REPO)
    assert not bad, "\n".join(bad)


def test_closures_see_what_the_commands_load(graph):
    light = graph.closure("srd_core.cli") | graph.closure("srd_core.pipeline.validation")
    assert not {"torch", "transformers", "matplotlib", "accelerate", "datasets"} & light
    assert "torch" in graph.closure("srd_core.training.loop")
    assert {"pydantic", "pluggy"} <= graph.closure("srd_core.errors")  # srd_core/__init__ runs first


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root / "pkg"


def test_checker_catches_imports_that_break_the_rule(tmp_path):
    package = write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/light.py": "import json\n",
            "pkg/heavy.py": "import torch\n",
            "pkg/middle.py": "from pkg import heavy\n",  # torch, through another module of ours
            "pkg/sub/__init__.py": "import requests\n",  # what importing pkg.sub.anything runs first
            "pkg/sub/mod.py": "",
            "pkg/user.py": """
                from typing import TYPE_CHECKING

                import yaml

                if TYPE_CHECKING:
                    import numpy  # annotations only: no exemption for what it names, no requirement either


                def stdlib():
                    import os

                    return os


                def light():
                    from pkg import light

                    return light


                def loaded_already():
                    import yaml

                    return yaml


                def without_comment():
                    from pkg.heavy import x

                    return x


                def wrong_package():
                    import scipy  # deferred: torch

                    return scipy


                def fine():
                    from pkg import heavy  # deferred: torch
                    from pkg.middle import y  # deferred: torch; through pkg.heavy
                    from pkg.sub import mod  # deferred: requests

                    # deferred: matplotlib
                    import matplotlib.pyplot as plt

                    return heavy, y, mod, plt
            """,
        },
    )
    found = problems(ImportGraph([package]), tmp_path)
    lines = {line.split(": ", 1)[0].split(" ")[0]: line for line in found}
    assert sorted(lines) == [f"pkg/user.py:{n}" for n in (10, 16, 22, 28, 34)], "\n".join(found)
    assert "imports the standard library only: move it to module level" in lines["pkg/user.py:10"]
    assert "loads no third-party package that importing pkg.user has not loaded" in lines["pkg/user.py:16"]
    assert "loads no third-party package" in lines["pkg/user.py:22"]
    assert "needs `# deferred: torch` (it adds torch)" in lines["pkg/user.py:28"]
    assert "names torch, which it does not add (it adds scipy)" in lines["pkg/user.py:34"]
