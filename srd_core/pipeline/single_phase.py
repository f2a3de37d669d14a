"""The single-phase commands (`srd prepare | reflect | curate | train | evaluate`) under the rule of `srd run`.

Each checks that the recorded upstream artifacts still match the config, sets its own stale
artifacts aside, records what it was made from, and keeps ``config.yaml`` and ``report.html``
honest: config.yaml is written when every recorded artifact matches the config; both are moved to
``.stale/`` when some no longer do.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from srd_core.config import SRDConfig, dump_config
from srd_core.io import write_text_atomic
from srd_core.launcher import world_size
from srd_core.pipeline.planner import Planner, Status, check_upstream, consistent, run_phase, set_aside
from srd_core.rundir import CONFIG_FILE, REPORT_FILE, STALE_DIR

logger = logging.getLogger(__name__)


def _processes() -> tuple[bool, Callable[[], None]]:
    """(is main process, barrier) of this command; under torchrun the process group is set up here."""
    if world_size() <= 1:
        return True, lambda: None
    from srd_core.reflection.reflect import default_accelerator

    accelerator = default_accelerator()
    return accelerator.is_main_process, accelerator.wait_for_everyone


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
    config: SRDConfig, name: str, work: Callable[[], Any], skip_complete: bool = False
) -> tuple[Status, Any]:
    """Run phase ``name`` of ``config``'s run dir as `srd run` would; returns its status and ``work()``'s result."""
    planner = Planner(config, config.run.dir)
    check_upstream(planner, name)
    main, barrier = _processes()
    status, result = run_phase(planner, name, work, main=main, barrier=barrier, skip_complete=skip_complete)
    sync_config_file(planner, main)
    return status, result
