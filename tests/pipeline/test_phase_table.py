"""The one phase table drives `srd run`, its dry run, the planner and the upstream checks of the commands."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from srd_core.cli import SRDGroup, phase_command
from srd_core.config import config_from_dict
from srd_core.errors import SRDError
from srd_core.pipeline import commands, phases, single_phase
from srd_core.pipeline.commands import Command
from srd_core.pipeline.dry_run import plan_run
from srd_core.pipeline.phases import Phase, Row, phases_for
from srd_core.pipeline.planner import Planner, check_upstream
from srd_core.pipeline.run import run_pipeline
from srd_core.reflection import reflect


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


EXTRA = Command("extra", "Make extra.json from the reflection.", lambda config, ran: [f"extra: {ran[0].result}"])
"""The command a contributor gives the row of ``extra``."""
STOPS: set[str] = set()
"""The extra phases whose work stops midway (as if killed)."""
EXTRA_USER = Command("extra-user", "Read extra.json.", lambda config, ran: [])


def _extra_phases(calls: list[str]) -> list[Phase]:
    """Two phases a contributor adds (after reflect in the table): ``extra``, and ``extra_user`` that reads it."""

    def phase(name: str, after: tuple[str, ...]) -> Phase:
        def work(run) -> str:
            calls.append(name)
            if name in STOPS:  # a kill -9 before the artifact was written
                raise SRDError(f"{name} stopped")
            (run.run_dir / f"{name}.json").write_text("{}")
            return f"wrote {name}.json"

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
        )

    return [phase("extra", ()), phase("extra_user", ("extra",))]


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

    entries = [replace(row, build=recorded(row.build)) for row in phases.TABLE]
    at = [row.stem for row in entries].index("reflect") + 1
    entries.insert(at, Row("extra", lambda config: _extra_phases(calls)[:1], EXTRA))
    entries.insert(at + 1, Row("extra_user", lambda config: _extra_phases(calls)[1:], EXTRA_USER))
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


def _table_cli() -> click.Group:
    """An `srd` group with the single-phase commands of the (patched) table, as the CLI makes them."""
    group = SRDGroup("srd")
    for command in phases.table_commands():
        group.add_command(phase_command(command))
    return group


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "table.yaml"
    path.write_text(yaml.safe_dump(_config(tmp_path).model_dump(mode="json", exclude_defaults=True)))
    return path


def test_a_row_with_a_command_is_an_srd_command_that_runs_its_phase_under_the_rule(tmp_path, table):
    config = _config(tmp_path)
    group = _table_cli()
    assert list(group.commands) == ["prepare", "reflect", "extra", "extra-user", "curate", "train", "evaluate"]
    assert {p.opts[0] for p in group.commands["extra"].params if p.opts[0].startswith("--")} == {"--set", "--force"}
    path = _config_file(tmp_path)
    runner = CliRunner()
    # extra reads reflect: not run yet, so extra runs (the rule asks only that recorded upstreams are current)
    first = runner.invoke(group, ["extra", str(path)])
    assert first.exit_code == 0, first.output
    assert first.output == "extra: wrote extra.json\n" and table == ["extra"]
    assert Planner(config, config.run.dir).status("extra").state == "complete"
    (config.run.dir / "extra.json").write_text('{"old": 1}')
    forced = runner.invoke(group, ["extra", str(path), "--force"])
    assert forced.exit_code == 0, forced.output
    assert json.loads((config.run.dir / ".stale" / "extra" / "extra.json").read_text()) == {"old": 1}
    assert (config.run.dir / "extra.json").read_text() == "{}" and table == ["extra", "extra"]
    # a stale recorded upstream: refused with the command line the table gives for it
    run_pipeline(config)
    stale = runner.invoke(group, ["extra-user", str(path), "--set", "reflection.batch_size=3"])
    assert stale.exit_code == 2
    assert "extra_user reads extra, which is stale" in stale.output and "run `srd extra CONFIG`" in stale.output


def test_a_choice_picks_the_phase_and_a_value_naming_none_is_one_line_before_anything_is_written(tmp_path, table):
    path = _config_file(tmp_path)
    group = _table_cli()
    runner = CliRunner()
    bad = runner.invoke(group, ["train", str(path), "--label", "nope"])
    assert bad.exit_code == 2 and "--label 'nope': expected one of srd, baseline" in bad.output
    assert not (tmp_path / "table").exists()  # the run dir was not even made
    config = _config(tmp_path)
    assert phases.command_line("train_baseline") == "train CONFIG --label baseline"
    assert phases.command_line("train_srd") == "train CONFIG"
    assert phases.command_line("evaluate_student_init") == "evaluate CONFIG"  # --model student, the default
    assert phases.command_line("evaluate_teacher") == "evaluate CONFIG --model teacher"
    assert phases.command_line("curate_x") == "curate CONFIG" and phases.command_line("report") is None
    assert phases.command_line("extra_user") == "extra-user CONFIG"
    assert [p.name for p in single_phase.picked_phases(commands.EVALUATE, config, "student") or []] == [
        "evaluate_student_init"
    ]
    assert single_phase.picked_phases(commands.EVALUATE, config, "some/model/dir") is None  # outside the run


def test_every_command_line_of_the_table_is_a_cli_command_with_those_options():
    """The command line the upstream hints print for each phase is a real `srd` command with those options."""
    from paths import REPO

    from srd_core.cli import cli

    config = config_from_dict(yaml.safe_load((REPO / "examples" / "demo.yaml").read_text()))
    named = {p.name: line for p in phases_for(config) if (line := phases.command_line(p.name))}
    assert {"prepare", "reflect", "curate", "train_srd", "train_kd_equal", "evaluate_teacher"} <= set(named)
    assert "report" not in named and "teacher_cache" not in named
    for phase, line in named.items():
        words = line.split()
        assert words[0] in cli.commands, (phase, line)
        options = {opt for param in cli.commands[words[0]].params for opt in param.opts}
        assert {w for w in words[1:] if w.startswith("--")} <= options, (phase, line)
        assert CliRunner().invoke(cli, [words[0], "--help"]).exit_code == 0
    assert {c.split()[0] for c in named.values()} == {"prepare", "reflect", "curate", "train", "evaluate"}
    assert {name for name in cli.commands if name in {c.name for c in phases.table_commands()}} == {
        "prepare",
        "reflect",
        "curate",
        "train",
        "evaluate",
    }


def test_force_sets_aside_only_a_complete_phase_so_a_stopped_attempt_resumes_and_a_pending_one_moves_nothing(
    tmp_path, table, monkeypatch
):
    config = _config(tmp_path)
    path, group, runner = _config_file(tmp_path), _table_cli(), CliRunner()
    run_dir = config.run.dir
    assert runner.invoke(group, ["extra", str(path)]).exit_code == 0
    assert runner.invoke(group, ["extra-user", str(path)]).exit_code == 0
    (run_dir / "extra.json").write_text('{"complete": 1}')
    monkeypatch.setattr(sys.modules[__name__], "STOPS", {"extra"})
    stopped = runner.invoke(group, ["extra", str(path), "--force"])
    assert stopped.exit_code == 2 and "extra stopped" in stopped.output
    kept = run_dir / ".stale" / "extra" / "extra.json"
    assert json.loads(kept.read_text()) == {"complete": 1}
    assert Planner(config, run_dir).status("extra").describe() == "to do"
    # extra_user now waits for extra: --force moves nothing of it (its work would say what is missing)
    assert Planner(config, run_dir).status("extra_user").state == "pending"
    runner.invoke(group, ["extra-user", str(path), "--force"])
    assert (run_dir / "extra_user.json").is_file() and not (run_dir / ".stale" / "extra_user").exists()
    # the stopped attempt is redone, not forced again: the complete artifacts stay in .stale
    monkeypatch.setattr(sys.modules[__name__], "STOPS", set())
    again = runner.invoke(group, ["extra", str(path), "--force"])
    assert again.exit_code == 0, again.output
    assert json.loads(kept.read_text()) == {"complete": 1} and (run_dir / "extra.json").read_text() == "{}"


def test_main_only_phases_run_on_the_main_process_alone(tmp_path, table, monkeypatch):
    """Under torchrun an evaluation is the main process's work (as in `srd run`); the others print nothing."""

    class OtherRank:
        is_main_process = False

        def wait_for_everyone(self) -> None:
            raise AssertionError("no barrier: the main process does not wait for the others here")

    monkeypatch.setattr(reflect, "default_accelerator", OtherRank)
    config = _config(tmp_path)
    assert single_phase.run_command(commands.EVALUATE, config, "teacher") == []
    assert single_phase.run_command(commands.EVALUATE, config, str(tmp_path)) == []  # a model directory
    assert table == []
