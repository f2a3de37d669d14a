"""What `srd experiment` does, kept out of the command module."""

from __future__ import annotations

import json
from pathlib import Path

from srd_core.experiment.aggregate import HTML_FILE, INFO_FILE, ROWS_FILE, experiment_dir_rows
from srd_core.experiment.progress import PhaseNames
from srd_core.experiment.runner import INVOCATIONS_FILE, run_experiment
from srd_core.experiment.spec import load_experiment
from srd_core.experiment.table import markdown_tables, provenance
from srd_core.experiment.verdict import stats_with_headlines
from srd_core.io import read_jsonl


def run_spec(spec_file: Path, jobs: int | None, phase_names: PhaseNames) -> list[str]:
    """Run or resume the experiment; the lines to print (what ran, the verdicts, where the page is)."""
    experiment = load_experiment(spec_file, jobs)
    outcome = run_experiment(experiment, phase_names)
    rows = experiment_dir_rows(experiment.directory)
    lines = [
        f"experiment {experiment.directory}: {len(outcome.ran)} run(s) ran, {len(outcome.skipped)} skipped "
        "(finished earlier)"
    ]
    stats = stats_with_headlines(rows, experiment.spec.reference)
    lines += [f"  {v.variant}: {v.headline}" for v in stats]
    reference = experiment.spec.reference
    lines += [f"  {v.variant} vs {reference}: {v.vs_reference.verdict}" for v in stats if v.vs_reference]
    lines.append(f"-> {experiment.directory / ROWS_FILE}, {experiment.directory / HTML_FILE}")
    return lines


def print_table(directory: Path, spec_file: Path | None = None) -> str:
    """Markdown tables of an experiment dir; the reference variant comes from SPEC_FILE when given."""
    reference = load_experiment(spec_file).spec.reference if spec_file is not None else _reference_of(directory)
    invocations = Path(directory) / INVOCATIONS_FILE
    runs = read_jsonl(invocations, tolerate_torn_tail=True) if invocations.is_file() else []
    return markdown_tables(experiment_dir_rows(directory), reference) + provenance(runs)


def _reference_of(directory: Path) -> str | None:
    """The reference variant recorded in the experiment dir (experiment.json), if any."""
    path = Path(directory) / INFO_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("reference") if path.is_file() else None
    except (OSError, ValueError):
        return None
