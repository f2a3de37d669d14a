"""Code is provenance: an edit to the code that computes an artifact makes it stale, naming the code;
an edit to code that cannot change it (the report's, the CLI's, the trackers') does not.

The edits are made to a copy of the srd_core package put first on PYTHONPATH of a real `srd run`,
never to the installed sources.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from paths import REPO
from rerun_helpers import ENV, SRD, copy_workspace, hashes, make_base, phase_lines
from test_layout import graph
from tiny_run import dev_split_data, make_config, make_workspace

from srd_core import plugins
from srd_core.code_digest import file_digest
from srd_core.hookspecs import hookimpl
from srd_core.pipeline import code
from srd_core.pipeline.phases import phases_for
from srd_core.pipeline.planner import Planner, close_phase, open_phase, read_record

RUN = "runs/base"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    workspace = make_base(tmp_path_factory.mktemp("code") / "base")
    return workspace, hashes(workspace / RUN)


def _shadow(tmp_path: Path, edits: dict[str, tuple[str, str]]) -> Path:
    """A copy of srd_core with ``edits`` ({relative file: (old text, new text)}) applied; returns its parent."""
    root = tmp_path / "shadow"
    shutil.copytree(REPO / "srd_core", root / "srd_core", ignore=shutil.ignore_patterns("__pycache__"))
    for rel, (old, new) in edits.items():
        path = root / rel
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{rel}: {old!r} not found once"
        path.write_text(text.replace(old, new), encoding="utf-8")
    return root


def _rerun(base, tmp_path: Path, edits: dict[str, tuple[str, str]]) -> tuple[Path, str, dict]:
    source, before = base
    workspace = copy_workspace(source, tmp_path / "ws")
    env = {**ENV, "PYTHONPATH": str(_shadow(tmp_path, edits))}
    done = subprocess.run(
        [SRD, "run", "config.yaml"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        timeout=600,
        cwd=workspace,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    return workspace / RUN, done.stdout, before


def test_an_edit_to_a_loss_retrains_the_arms_that_use_it_naming_it(base, tmp_path):
    old = "        return kl_per_token(finite_logp(teacher_logp), finite_logp(student_logp))\n"
    run_dir, out, before = _rerun(
        base,
        tmp_path,
        {"srd_core/builtins/losses.py": (old, old.replace("return kl_per_token", "return 5 * kl_per_token"))},
    )
    for label in ("srd", "baseline"):
        assert f"train_{label}: stale (code of kd_loss 'fkl' changed); retraining" in out, out
        assert f"evaluate_{label}: stale ({label} model changed); re-evaluating" in out
    lines = phase_lines(out)
    assert lines["prepare"] == lines["reflect"] == lines["curate"] == "skipped"
    assert "evaluate_teacher: stale" not in out and "evaluate_student_init: stale" not in out
    after = hashes(run_dir)
    assert {k for k in before if before[k] != after[k]} == {"srd", "baseline"}
    record = json.loads((run_dir / "provenance" / "train_srd.json").read_text())
    assert record["versions"] == {"srd": "0.1.0"}
    assert (
        record["inputs"]["code of kd_loss 'fkl'"]
        != json.loads((run_dir / ".stale" / "train_srd" / "record.json").read_text())["inputs"]["code of kd_loss 'fkl'"]
    )


def test_an_edit_to_code_that_cannot_change_an_artifact_recomputes_nothing(base, tmp_path):
    statement = "\n_EDITED = 'an edit that changes no result'\n"  # code (a comment would not count, see below)
    edits = {
        rel: ("\nfrom __future__ import annotations\n", f"\nfrom __future__ import annotations\n{statement}")
        for rel in (
            "srd_core/cli.py",
            "srd_core/pipeline/run.py",
            "srd_core/training/trackers.py",
            "srd_core/report/html.py",
        )
    }
    run_dir, out, before = _rerun(base, tmp_path, edits)
    assert "report: outdated (code of srd_core/report/html.py changed); set aside" in out, out
    lines = phase_lines(out)
    assert [k for k, v in lines.items() if v == "ran"] == ["report"], out
    assert hashes(run_dir) == before


def test_formatting_comments_and_docstrings_recompute_nothing(base, tmp_path):
    """What ``ruff format`` or a reworded comment does to the code of every phase leaves every artifact fresh."""
    old = "        return kl_per_token(finite_logp(teacher_logp), finite_logp(student_logp))\n"
    reformatted = (
        "        # the same computation, laid out anew\n        return kl_per_token(\n"
        "            finite_logp(teacher_logp),\n            finite_logp(student_logp),\n        )\n"
    )
    edits = {
        "srd_core/builtins/losses.py": (old, reformatted),
        "srd_core/reflection/reflect.py": (
            "\nfrom __future__ import annotations\n",
            "\nfrom __future__ import annotations\n\n# a comment\n",
        ),
        "srd_core/curation/curate.py": ('"""Curation: difficulty', '"""Reworded. Curation: difficulty'),
    }
    run_dir, out, before = _rerun(base, tmp_path, edits)
    for phase in ("prepare", "reflect", "curate", "train_srd", "train_baseline", "evaluate", "report"):
        assert f"{phase}: skipped (complete)" in out, out
    assert "stale" not in out and "outdated" not in out, out
    assert hashes(run_dir) == before


# ------------------------------------------------------------------------------------------ in one process


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("code-ws"))


def test_a_plugin_distribution_and_its_version_are_recorded_and_its_code_counts(ws, tmp_path, monkeypatch):
    package = tmp_path / "mine_plugin"
    package.mkdir()
    source = package / "__init__.py"
    source.write_text(
        textwrap.dedent("""
        from srd_core.builtins.losses import ForwardKL


        class MyKL(ForwardKL):
            SCALE = 1.0
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import mine_plugin

    class Registration:
        @hookimpl
        def register_kd_losses(self, register):
            register("mine", mine_plugin.MyKL)

    plugins.register(Registration(), name="srd-mine:mine", distribution="srd-mine", version="4.5.6")
    try:
        config = make_config(ws, "plugin", train={"kd_loss": {"name": "mine"}})
        planner = Planner(config, config.run.dir)
        status = open_phase(planner, "train_srd")
        assert status.versions == {"srd": "0.1.0", "srd-mine": "4.5.6"}
        (config.run.dir / "srd" / "final").mkdir(parents=True)
        (config.run.dir / "srd" / "final" / "config.json").write_text("{}")
        (config.run.dir / "srd" / "summary.json").write_text("{}")
        close_phase(planner, status)
        assert read_record(config.run.dir, "train_srd")["versions"] == {"srd": "0.1.0", "srd-mine": "4.5.6"}
        assert Planner(config, config.run.dir).status("train_srd").state == "complete"
        source.write_text(source.read_text().replace("SCALE = 1.0", "SCALE = 5.0"))
        file_digest.cache_clear()  # a new process would read it anew
        assert (
            Planner(config, config.run.dir).status("train_srd").describe() == "stale (code of kd_loss 'mine' changed)"
        )
    finally:
        plugins.unregister("srd-mine:mine")
        file_digest.cache_clear()


def test_a_record_from_before_code_was_recorded_is_taken_as_made_by_this_code(ws):
    config = make_config(ws, "old")
    planner = Planner(config, config.run.dir)
    status = open_phase(planner, "train_srd")
    (config.run.dir / "srd" / "final").mkdir(parents=True)
    (config.run.dir / "srd" / "final" / "config.json").write_text("{}")
    (config.run.dir / "srd" / "summary.json").write_text("{}")
    close_phase(planner, status)
    path = config.run.dir / "provenance" / "train_srd.json"
    record = json.loads(path.read_text())
    record["inputs"] = {k: v for k, v in record["inputs"].items() if not k.startswith(code.CODE_PREFIX)}
    path.write_text(json.dumps(record))
    assert Planner(config, config.run.dir).status("train_srd").state == "complete"


ENTRY_POINTS = {
    "prepare": ["srd_core.models.prepare"],
    "reflect": ["srd_core.reflection.reflect"],
    "curate": ["srd_core.curation.curate"],
    "train_srd": ["srd_core.training.loop"],
    "evaluate_srd": ["srd_core.evaluation.evaluate"],
    "report": ["srd_core.report.build"],
}
COMPUTING = (
    "srd_core.data",
    "srd_core.models",
    "srd_core.reflection",
    "srd_core.curation",
    "srd_core.evaluation",
    "srd_core.training",
    "srd_core.report",
)
NOT_THEIRS = {
    # loads the samples it shows; the report does not compute them
    "report": {
        "srd_core/data/__init__.py",
        "srd_core/data/samples.py",
        "srd_core/data/encoding.py",
        "srd_core/models/__init__.py",
        "srd_core/models/hub.py",
        "srd_core/models/loading.py",
        "srd_core/curation/__init__.py",
        "srd_core/curation/curate.py",
        "srd_core/curation/ranking.py",
        "srd_core/evaluation/__init__.py",
        "srd_core/evaluation/rows.py",
    },
}


@pytest.mark.parametrize("phase", sorted(ENTRY_POINTS))
def test_every_module_a_phase_imports_is_in_its_code_or_said_not_to_compute(ws, phase):
    """A module the phase's code imports (ast, within the computing layers) is declared, like a config field."""
    edges = graph()
    seen, stack = set(), list(ENTRY_POINTS[phase])
    while stack:
        module = stack.pop()
        if module not in seen:
            seen.add(module)
            stack += [m for m in edges.get(module, ()) if m.startswith(COMPUTING)]
    files = {
        str(Path(*m.split(".")).with_suffix(".py"))
        if (REPO / Path(*m.split(".")).with_suffix(".py")).is_file()
        else str(Path(*m.split("."), "__init__.py"))
        for m in seen
    }
    config = make_config(
        ws,
        "closure",
        train={"select_best": {"enabled": True}},
        data=dev_split_data(ws),
    )
    declared_code = {p.name: p for p in phases_for(config)}[phase].code(config)
    declared = {k[len(code.CODE_PREFIX) :] for k in code.code_inputs(declared_code, [])}
    missing = files - declared - code.NOT_COMPUTING - NOT_THEIRS.get(phase, set())
    assert not missing, f"{phase} imports {sorted(missing)}: add them to its code (phases.py) or to NOT_COMPUTING"


def test_every_declared_code_pattern_matches_a_file(ws):
    from srd_core.code_digest import package_files

    config = make_config(ws, "patterns")
    config_patterns = {p for phase in phases_for(config) for p in phase.code(config)}
    for pattern in config_patterns:
        assert package_files((pattern,)), f"{pattern} matches no srd_core file"


def test_the_shadow_copy_is_what_a_process_imports(tmp_path):
    root = _shadow(tmp_path, {})
    done = subprocess.run(
        [sys.executable, "-c", "import srd_core.builtins.losses as m; print(m.__file__)"],
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )  # not the repo, whose srd_core `-c` would put first
    assert done.stdout.strip() == str(root / "srd_core" / "builtins" / "losses.py")
