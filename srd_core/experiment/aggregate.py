"""``experiment.jsonl`` (one row per finished run) and ``experiment.html``, rebuilt from the run dirs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from srd_core.errors import SRDError
from srd_core.experiment.collect import collect_row
from srd_core.experiment.layout import is_done, run_dir
from srd_core.experiment.page import render_page
from srd_core.io import read_jsonl, write_json_atomic, write_jsonl_atomic, write_text_atomic

if TYPE_CHECKING:
    from srd_core.experiment.spec import Experiment

ROWS_FILE = "experiment.jsonl"
HTML_FILE = "experiment.html"
INFO_FILE = "experiment.json"


def collect_rows(experiment: Experiment) -> list[dict[str, Any]]:
    """The row of every finished run, in the experiment's order."""
    return [
        collect_row(run_dir(experiment, run), run.variant, run.seed)
        for run in experiment.runs
        if is_done(experiment, run)
    ]


def write_results(experiment: Experiment) -> Path:
    """Write experiment.jsonl and experiment.html; returns the page's path."""
    rows = collect_rows(experiment)
    write_jsonl_atomic(experiment.directory / ROWS_FILE, rows)
    info = {
        "name": experiment.directory.name,
        "source": str(experiment.source),
        "planned": len(experiment.runs),
        "reference": experiment.spec.reference,
        "variants": experiment.spec.variants,
        "overrides": experiment.spec.overrides,
        "seeds": experiment.spec.seeds,
    }
    write_json_atomic(experiment.directory / INFO_FILE, info)
    page = experiment.directory / HTML_FILE
    write_text_atomic(page, render_page(rows, info))
    return page


def experiment_dir_rows(directory: str | Path) -> list[dict[str, Any]]:
    """The rows of ``<directory>/experiment.jsonl``; a missing file is an ``SRDError`` naming it."""
    path = Path(directory) / ROWS_FILE
    if not path.is_file():
        raise SRDError(f"{path}: not found (run `srd experiment FILE.yaml` first)")
    return read_jsonl(path, tolerate_torn_tail=True)
