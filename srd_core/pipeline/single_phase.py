"""The single-phase commands (`srd prepare | reflect | curate | train | evaluate`) under the rule of `srd run`.

``run_command`` runs a command's phases of the table (``srd_core.pipeline.phases.TABLE``) through their ``work``,
as `srd run` would, but calls the work of a complete phase too: prepare, reflect, curate and train skip what is
up to date by their own keys and say so; an evaluation evaluates again. Each command checks that the recorded
upstream artifacts still match the config, sets its own stale artifacts aside, records what it was made from,
and keeps ``config.yaml`` and ``report.html`` honest: config.yaml is written when every recorded artifact
matches the config; both are moved to ``.stale/`` when some no longer do.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from srd_core.config import SRDConfig, dump_config
from srd_core.errors import ConfigError
from srd_core.io import write_text_atomic
from srd_core.pipeline import phases as phase_table  # the module: its TABLE is read at each call
from srd_core.pipeline.commands import Command, Ran
from srd_core.pipeline.phases import Phase
from srd_core.pipeline.planner import (
    Planner,
    Status,
    check_upstream,
    consistent,
    run_phase,
    set_aside,
)
from srd_core.pipeline.work import RunContext, RunResult
from srd_core.rundir import CONFIG_FILE, REPORT_FILE, STALE_DIR

logger = logging.getLogger(__name__)


def sync_config_file(planner: Planner, main: bool = True) -> None:
    """Write config.yaml when the run dir matches ``planner.config``; else set an outdated one aside.

    report.html follows the same rule: while some artifact it shows is outdated, it goes to
    ``.stale/report/`` (a rerun of `srd run` writes a new one).
    """
    if not main:
        return
    path = planner.run_dir / CONFIG_FILE
    text = dump_config(planner.config)
    planner.forget("")
    if consistent(planner):
        write_text_atomic(path, text)
        return
    if path.is_file() and path.read_text(encoding="utf-8") != text:
        (planner.run_dir / STALE_DIR).mkdir(exist_ok=True)
        os.replace(path, planner.run_dir / STALE_DIR / CONFIG_FILE)
    report = planner.status("report")
    if report.state in ("stale", "pending") and (planner.run_dir / REPORT_FILE).is_file():
        dest = set_aside(planner.run_dir, planner.by_name["report"])
        logger.warning(
            "report: outdated (%s); set aside in %s until it is rewritten",
            report.reason,
            dest.relative_to(planner.run_dir.parent),
        )
        planner.forget("report")


def run_single_phase(
    config: SRDConfig,
    name: str,
    work: Callable[[], Any],
    *,
    main: bool = True,
    barrier: Callable[[], None] = lambda: None,
    force: bool = False,
) -> tuple[Status, Any]:
    """Run phase ``name`` of ``config``'s run dir as `srd run` would; returns its status and ``work()``'s result.

    ``force``: its artifacts are set aside first (``.stale/<phase>/``), so that they are computed again.
    """
    planner = Planner(config, config.run.dir)
    check_upstream(planner, name)
    if force:
        _set_aside_for_force(planner, name, main, barrier)
    status, result = run_phase(planner, name, work, main=main, barrier=barrier, skip_complete=False)
    sync_config_file(planner, main)
    return status, result


def _set_aside_for_force(planner: Planner, name: str, main: bool, barrier: Callable[[], None]) -> None:
    """Move a complete phase's artifacts and record aside, so that they are computed again.

    Only a complete one: a stale phase is set aside by the rule anyway; one an earlier ``--force`` left midway
    resumes (setting it aside would replace the complete artifacts kept in ``.stale/`` with the partial ones);
    a pending one waits for an upstream phase, and its work says which, with nothing moved.
    """
    phase = planner.by_name[name]
    status = planner.status(name)
    barrier()
    if main and status.state == "complete":
        dest = set_aside(planner.run_dir, phase)
        logger.warning(
            "%s: --force; %s (the old artifacts are in %s)",
            name,
            phase.verb,
            dest.relative_to(planner.run_dir.parent),
        )
    barrier()
    planner.forget(name)


def _work_of(phase: Phase, run: RunContext) -> Callable[[], Any]:
    work = phase.work
    assert work is not None  # every phase of the table has a work function
    return lambda: work(run)


def picked_phases(command: Command, config: SRDConfig, value: str | None = None) -> list[Phase] | None:
    """The phases of ``command`` that run on ``config`` (the one its option's ``value`` picks), in the table's
    order; None when ``value`` names no phase and goes to the choice's ``outside`` work. A value that names
    nothing is a ``ConfigError`` naming the values (before anything is written)."""
    rows = [row for row in phase_table.TABLE if row.command is command]
    phases = [phase for row in rows for phase in row.build(config)]
    if command.choice is None:
        return phases
    (row,) = rows  # a command with a choice has one row, whose stem the choice completes
    value = command.choice.default if value is None else value
    name = row.stem + command.choice.suffix(value)
    picked = [phase for phase in phases if phase.name == name and phase.enabled(config)]
    if picked or command.choice.outside is not None:
        return picked or None
    known = [command.choice.value(p.name[len(row.stem) :]) for p in phases if p.enabled(config)]
    raise ConfigError(f"{command.choice.option} {value!r}: expected one of {', '.join(known)}")


def run_command(command: Command, config: SRDConfig, value: str | None = None, force: bool = False) -> list[str]:
    """Run the phases of ``command`` (see ``picked_phases``) on ``config``'s run dir under the dependency rule;
    returns the lines the command prints (none on the processes besides the main one)."""
    from srd_core.reflection.reflect import default_accelerator  # deferred: torch

    phases = picked_phases(command, config, value)
    accelerator = default_accelerator()  # under torchrun: the process group, as `srd run` has it
    planner = Planner(config, config.run.dir)
    run = RunContext(
        config,
        config.run.dir,
        accelerator,
        accelerator.is_main_process,
        lambda ignore: consistent(planner, ignore=ignore),
        RunResult(config.run.dir),
    )
    if not run.main and (phases is None or all(phase.main_only for phase in phases)):
        return []  # work of the main process alone (an evaluation), as in `srd run`: the others are done
    if phases is None:  # a value outside the run (a model directory): its work, with no record
        assert command.choice is not None and command.choice.outside is not None
        value = command.choice.default if value is None else value
        ran = [Ran(value, "outside", command.choice.outside(value)(run))]
    else:
        ran = []
        for phase in phases:
            if phase.main_only and not run.main:
                continue
            status, result = run_single_phase(
                config,
                phase.name,
                _work_of(phase, run),
                main=run.main,
                barrier=(lambda: None) if phase.main_only else accelerator.wait_for_everyone,
                force=force,
            )
            ran.append(Ran(phase.name, status.state, result))
    return command.lines(config, ran) if run.main else []
