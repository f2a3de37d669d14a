"""Reading a run directory for the report: every artifact is optional, missing ones become ``None``.

Field names follow the writers (train.py, evaluate.py, curate.py) with a few aliases, so a report can
still be drawn from a run written by a slightly older or newer version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from srd_core.arms import curation_views
from srd_core.config import load_config
from srd_core.data.samples import load_samples
from srd_core.errors import DataError
from srd_core.evaluation.rows import MODEL_ALIASES, score_of
from srd_core.io import read_jsonl
from srd_core.rundir import (
    CONFIG_FILE,
    CURATION_FILE,
    EVAL_FILE,
    EVAL_SETS_FILE,
    METRICS_FILE,
    REFLECTION_FILE,
    REFLECTION_META_FILE,
    SAMPLES_META_FILE,
    SUMMARY_FILE,
    TIMINGS_FILE,
)

METHODS = ("srd", "baseline")
"""The arms of a run without an ``arms`` section (and of a run dir whose config.yaml is missing)."""
ARM_TITLES = {"srd": "SRD", "baseline": "plain KD (baseline)"}


@dataclass
class RunArtifacts:
    """Everything the report reads from one run directory (``None`` = the artifact is absent)."""

    run_dir: Path
    title: str
    config: dict[str, Any] | None = None
    reflection: list[dict[str, Any]] | None = None
    curation: list[dict[str, Any]] | None = None
    metrics: dict[str, list[dict[str, Any]] | None] = field(default_factory=dict)
    evals: dict[str, list[dict[str, Any]] | None] = field(default_factory=dict)
    train_summaries: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    final: dict[str, dict[str, Any]] = field(default_factory=dict)
    eval_sets: list[dict[str, Any]] | None = None
    timings: dict[str, float] | None = None
    samples_meta: dict[str, dict[str, Any]] | None = None
    samples_meta_source: str | None = None
    notes: list[str] = field(default_factory=list)
    arms: list[str] = field(default_factory=lambda: list(METHODS))
    """The run's arms, in training order."""
    parallel: dict[str, Any] | None = None
    """timings.json's ``parallel``: the train phases that ran at once and the wall seconds they took together."""
    reflection_meta: dict[str, Any] | None = None
    views: list[ArmCuration] = field(default_factory=list)
    """Each curation of the run besides ``curation.jsonl`` (``curation-<arm>/``: an arm curated on its own)."""
    base_arms: tuple[str, ...] = ()
    """The curated arms that train on ``curation.jsonl`` (empty: unknown, or a run with one curation)."""

    def curated(self, arm: str) -> bool:
        """Whether ``arm`` trained on a curation (SRD-like) rather than on all the data (a reference arm)."""
        done = self.train_summaries.get(arm) or {}
        if isinstance(done.get("curated"), bool):
            return done["curated"]
        return arm == "srd" or arm.startswith("srd_")

    @property
    def reflection_flops(self) -> float | None:
        """The reflection pass's compute (reflection.meta.json), charged to the arms that train on a curation."""
        compute = (self.reflection_meta or {}).get("compute") or {}
        value = compute.get("flops")
        return float(value) if isinstance(value, (int, float)) else None

    def pairs(self) -> list[tuple[str, str]]:
        """(curriculum arm, reference arm) pairs the report compares: each SRD-like arm with each other arm."""
        curated = [a for a in self.arms if self.curated(a)]
        return [(a, b) for a in curated for b in self.arms if b not in curated]


@dataclass
class ArmCuration:
    """A curation the run's arms train on besides curation.jsonl: its rows, as those arms' report sees them."""

    owner: str
    arms: tuple[str, ...]
    rows: list[dict[str, Any]] | None
    config: dict[str, Any] | None
    """The run's config with these arms' curriculum and reference pacer (``srd_core.arms.CurationView``)."""

    def run(self, run: RunArtifacts) -> RunArtifacts:
        """``run`` as these arms see it: this curation and config, for every curation table, plot and warning."""
        return replace(run, curation=self.rows, config=self.config, views=[], base_arms=self.arms)


def _views(run_dir: Path, config: dict[str, Any] | None) -> tuple[tuple[str, ...], list[ArmCuration]]:
    """The arms that read curation.jsonl, and every other curation of the run (none for a one-curation run)."""
    found = curation_views(run_dir, config)
    extra = [
        ArmCuration(v.owner, v.arms, read_optional_jsonl(v.path), v.config)
        for v in found[1:]
        if v.owner is not None and v.path.is_file()
    ]
    return (found[0].arms if extra else ()), extra


def arm_title(arm: str) -> str:
    """How the report names an arm: SRD, plain KD (baseline), or the arm's own name."""
    return ARM_TITLES.get(arm, arm)


def read_optional_jsonl(path: Path) -> list[dict[str, Any]] | None:
    """The rows of ``path``, ``None`` if it does not exist; a torn last line (crash mid-append) is ignored."""
    if not path.is_file():
        return None
    try:
        rows = read_jsonl(path, tolerate_torn_tail=True)
    except json.JSONDecodeError:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                json.loads(line) if line.strip() else None
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {number} is not valid JSON ({exc.msg})") from None
        raise
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise DataError(f"{path}: row {number} is a {type(row).__name__}, expected a JSON object")
    return rows


def _read_optional_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None


def _read_config(run_dir: Path, notes: list[str]) -> dict[str, Any] | None:
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        notes.append(f"config.yaml could not be parsed ({str(exc).splitlines()[0]}); title taken from the folder")
        return None
    return data if isinstance(data, dict) else None


def _title(config: dict[str, Any] | None, run_dir: Path) -> str:
    report = (config or {}).get("report") or {}
    run = (config or {}).get("run") or {}
    return str(report.get("title") or run.get("name") or run_dir.resolve().name)


def _final_by_model(rows: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """The last eval.jsonl row of each model, keyed by canonical model name."""
    final: dict[str, dict[str, Any]] = {}
    for row in rows or []:
        name = str(row.get("model", ""))
        if name and score_of(row) is not None:
            final[MODEL_ALIASES.get(name, name)] = row
    return final


def _timings(raw: Any, path: Path) -> dict[str, float] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object {{phase: seconds}}")
    return {str(k): float(v) for k, v in raw.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _train_summary(path: Path) -> dict[str, Any] | None:
    """A finished training run's summary.json (steps, tokens, response_tokens, wall_time), if any."""
    raw = _read_optional_json(path)
    if raw is not None and not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object")
    return raw


def _samples_meta(run_dir: Path, config: dict[str, Any] | None, notes: list[str]) -> tuple[dict | None, str | None]:
    """Per training sample {family, noisy, ...}: from samples_meta.jsonl, else by reloading the training data."""
    rows = read_optional_jsonl(run_dir / SAMPLES_META_FILE)
    if rows is not None:
        return {str(r["id"]): r for r in rows if "id" in r}, SAMPLES_META_FILE
    if config is None:
        return None, None
    try:
        samples = load_samples(load_config(run_dir / CONFIG_FILE), "train")
    except Exception as exc:  # optional analysis: any failure to rebuild the data only hides this section
        reason = str(exc).splitlines()[0] if str(exc) else ""
        notes.append(f"training-sample metadata could not be rebuilt from config.yaml ({type(exc).__name__}: {reason})")
        return None, None
    meta = {s.id: {"id": s.id, **s.meta} for s in samples}
    return (meta, "config.yaml (training data reloaded)") if any(meta.values()) else (None, None)


def _arm_names(run_dir: Path, config: dict[str, Any] | None) -> list[str]:
    """The arms: config.yaml's ``arms`` in order, else srd and baseline, plus any other folder with a summary."""
    listed = (config or {}).get("arms")
    names = list(listed) if isinstance(listed, dict) and listed else list(METHODS)
    if not isinstance(listed, dict):
        names += sorted(
            p.name for p in run_dir.iterdir() if p.is_dir() and p.name not in names and (p / SUMMARY_FILE).is_file()
        )
    return names


def load_run(run_dir: str | Path) -> RunArtifacts:
    """Read every report input of ``run_dir``; raises ``DataError`` only for a missing folder or corrupt file."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: not a run directory (no such folder)")
    notes: list[str] = []
    config = _read_config(run_dir, notes)
    timings_path = run_dir / TIMINGS_FILE
    meta, meta_source = _samples_meta(run_dir, config, notes)
    arms = _arm_names(run_dir, config)
    reflection_meta = _read_optional_json(run_dir / REFLECTION_META_FILE)
    raw_timings = _read_optional_json(timings_path)
    parallel = raw_timings.get("parallel") if isinstance(raw_timings, dict) else None
    base_arms, views = _views(run_dir, config)
    return RunArtifacts(
        run_dir=run_dir,
        title=_title(config, run_dir),
        config=config,
        reflection=read_optional_jsonl(run_dir / REFLECTION_FILE),
        curation=read_optional_jsonl(run_dir / CURATION_FILE),
        metrics={m: read_optional_jsonl(run_dir / m / METRICS_FILE) for m in arms},
        evals={m: read_optional_jsonl(run_dir / m / EVAL_FILE) for m in arms},
        train_summaries={m: _train_summary(run_dir / m / SUMMARY_FILE) for m in arms},
        final=_final_by_model(read_optional_jsonl(run_dir / EVAL_FILE)),
        eval_sets=read_optional_jsonl(run_dir / EVAL_SETS_FILE),
        timings=_timings(raw_timings, timings_path),
        parallel=parallel if isinstance(parallel, dict) else None,
        samples_meta=meta,
        samples_meta_source=meta_source,
        notes=notes,
        arms=arms,
        reflection_meta=reflection_meta if isinstance(reflection_meta, dict) else None,
        views=views,
        base_arms=base_arms,
    )
