"""The one phase table drives `srd run`, its dry run, the planner and the upstream checks of the commands."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from srd_core.config import config_from_dict
from srd_core.errors import SRDError
from srd_core.pipeline import phases
from srd_core.pipeline.dry_run import plan_run
from srd_core.pipeline.phases import Phase, phases_for
from srd_core.pipeline.planner import Planner, check_upstream
from srd_core.pipeline.run import run_pipeline


def _config(tmp_path: Path, **extra):
    return config_from_dict(
        {
            "run": {"name": "table", "output_dir": str(tmp_path)},
            "teacher": {"path": "nonexistent-org/teacher"},
            "student": {"path": "nonexistent-org/student"},
            "data": {"train": {"name": "synthetic", "n_train": 60, "n_eval": 10, "seed": 0}},
            "curriculum": {"pacer": {"name": "baby_step", "num_bins": 3, "epochs_per_stage": 1}},
            "train": {"batch_size": 8},
            "baseline": {"pacer": {"name": "all", "epochs": 1}, "match_srd_steps": False},
            **extra,
        }
    )


def _extra_phases(calls: list[str]) -> list[Phase]:
    """Two phases a contributor adds (after reflect in the table): ``extra``, and ``extra_user`` that reads it."""

    def phase(name: str, after: tuple[str, ...], command: str | None) -> Phase:
        def work(run) -> None:
            calls.append(name)
            (run.run_dir / f"{name}.json").write_text("{}")

        return Phase(
            name,
            "redoing",
            fields=lambda config: ("reflection",),
            after=lambda config: after,
            files=lambda config, run_dir: {},
            outputs=(f"{name}.json",),
            done=lambda run_dir: (run_dir / f"{name}.json").is_file(),
            work=work,
            describe=lambda view: [(name, f"{name} of {int(view.data.samples.value)} samples")],
            command=command,
        )

    return [phase("extra", (), "extra CONFIG"), phase("extra_user", ("extra",), None)]


@pytest.fixture
def table(monkeypatch):
    """The real table with every phase's work recorded instead of done, and the two extra phases after reflect."""
    calls: list[str] = []

    def record(run, phase: Phase) -> None:
        calls.append(phase.name)
        if phase.eval_label is not None:  # what `srd run` reads the final scores from
            with open(run.run_dir / "eval.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"model": phase.eval_label, "score": 1.0}) + "\n")

    def recorded(build):
        def phases_of(config):
            return [replace(p, work=lambda run, p=p: record(run, p), then=None) for p in build(config)]

        return phases_of

    entries = [(stem, recorded(build)) for stem, build in phases.TABLE]
    at = [stem for stem, _ in entries].index("reflect") + 1
    entries.insert(at, ("extra", lambda config: _extra_phases(calls)))
    monkeypatch.setattr(phases, "TABLE", entries)
    return calls


def test_a_phase_added_to_the_table_is_in_the_dry_run_and_the_planner(tmp_path, table):
    config = _config(tmp_path)
    plan = plan_run(config, num_processes=1)
    names = [name for name, _ in plan.phases]
    assert names == [
        "prepare",
        "reflection",
        "extra",
        "extra_user",
        "curation",
        "train srd",
        "train baseline",
        "evaluate",
        "report",
    ]
    assert ("extra", "extra of 60 samples") in plan.phases
    assert "  3. extra            extra of 60 samples\n" in plan.render()
    planner = Planner(config, config.run.dir)
    assert [s.phase for s in planner.all()][:5] == ["prepare", "reflect", "extra", "extra_user", "curate"]
    assert phases.phase_rank("extra") == 2 < phases.phase_rank("curate")


def test_run_calls_every_work_function_of_the_table_in_order(tmp_path, table):
    config = _config(tmp_path)
    result = run_pipeline(config)
    expected = [p.name for p in phases_for(config) if p.enabled(config)]
    assert "prepare" not in expected  # models given by path: off, so its work is not called
    assert (
        table
        == expected
        == [
            "reflect",
            "extra",
            "extra_user",
            "curate",
            "train_srd",
            "train_baseline",
            "evaluate_teacher",
            "evaluate_student_init",
            "evaluate_srd",
            "evaluate_baseline",
            "report",
        ]
    )
    # each step timed once, under its step's name (the evaluate_* phases as one); prepare listed as skipped
    assert list(result.phases) == [
        "prepare",
        "reflect",
        "extra",
        "extra_user",
        "curate",
        "train_srd",
        "train_baseline",
        "evaluate",
        "report",
    ]
    assert result.phases["prepare"] is None and result.phases["extra"] is not None
    assert result.scores == {"teacher": 1.0, "student_init": 1.0, "srd": 1.0, "baseline": 1.0}
    table.clear()
    again = run_pipeline(config)  # the extra phases wrote their artifacts: complete, skipped (the others did not)
    assert "extra" not in table and "extra_user" not in table and table[0] == "reflect"
    assert again.phases["extra"] is None and again.phases["extra_user"] is None


def test_the_upstream_check_names_the_command_from_the_table(tmp_path, table):
    config = _config(tmp_path)
    run_pipeline(config)
    changed = _config(tmp_path, reflection={"batch_size": 3})  # extra reads reflection.*: stale now
    with pytest.raises(SRDError, match=r"extra_user reads extra, which is stale .*; run `srd extra CONFIG`"):
        check_upstream(Planner(changed, changed.run.dir), "extra_user")
    with pytest.raises(SRDError, match=r"curate reads reflect, which is stale .*; run `srd reflect CONFIG`"):
        check_upstream(Planner(changed, changed.run.dir), "curate")


def test_every_command_the_table_names_is_a_cli_command_with_those_options():
    """The table's `command` of each phase (the upstream hints print it) is a real `srd` command with those options."""
    import yaml
    from click.testing import CliRunner
    from paths import REPO

    from srd_core.cli import cli

    config = config_from_dict(yaml.safe_load((REPO / "examples" / "demo.yaml").read_text()))
    named = {p.name: p.command for p in phases_for(config) if p.command}
    assert {"prepare", "reflect", "curate", "train_srd", "train_kd_equal"} <= set(named)
    for phase, command in named.items():
        words = command.split()
        assert words[0] in cli.commands, (phase, command)
        options = {opt for param in cli.commands[words[0]].params for opt in param.opts}
        assert {w for w in words[1:] if w.startswith("--")} <= options, (phase, command)
        assert CliRunner().invoke(cli, [words[0], "--help"]).exit_code == 0
    assert {c.split()[0] for c in named.values()} == {"prepare", "reflect", "curate", "train"}
