"""Where an experiment keeps each run: its config, run dir, log and done marker."""

from __future__ import annotations

import json
from pathlib import Path

from srd_core.experiment.spec import Experiment, PlannedRun, dump_run_config
from srd_core.io import fingerprint


def config_path(experiment: Experiment, run: PlannedRun) -> Path:
    """``configs/<run>.yaml``: what `srd run` is given."""
    return experiment.directory / "configs" / f"{run.name}.yaml"


def done_path(experiment: Experiment, run: PlannedRun) -> Path:
    """``done/<run>.json``: written when the run's `srd run` exited 0."""
    return experiment.directory / "done" / f"{run.name}.json"


def log_path(experiment: Experiment, run: PlannedRun) -> Path:
    """``logs/<run>.log``: every attempt's output, appended."""
    return experiment.directory / "logs" / f"{run.name}.log"


def run_dir(experiment: Experiment, run: PlannedRun) -> Path:
    """``runs/<run>/``: an ordinary run dir."""
    return experiment.runs_dir / run.name


def config_sha(run: PlannedRun) -> str:
    """Fingerprint of the run's config file."""
    return fingerprint(dump_run_config(run))


def is_done(experiment: Experiment, run: PlannedRun) -> bool:
    """Finished with this very config (a changed variant runs again; `srd run` recomputes what is stale)."""
    path = done_path(experiment, run)
    try:
        return path.is_file() and json.loads(path.read_text(encoding="utf-8")).get("config") == config_sha(run)
    except (OSError, ValueError):
        return False
