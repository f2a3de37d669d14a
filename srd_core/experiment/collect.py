"""One ``experiment.jsonl`` row per run, read from whatever its run dir provides (``None`` where absent)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import yaml

from srd_core.curation.diagnostics import run_diagnostics
from srd_core.evaluation.rows import MODEL_ALIASES, score_of
from srd_core.experiment.sharing import read_shared
from srd_core.io import read_jsonl
from srd_core.rundir import CURATION_FILE, EVAL_FILE, SAMPLES_META_FILE, SUMMARY_FILE, TIMINGS_FILE

Curve = list[list[float]]
"""``[[step, wall_time, score], ...]`` in step order."""


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None


def _rows(path: Path) -> list[dict[str, Any]]:
    try:
        return read_jsonl(path, tolerate_torn_tail=True) if path.is_file() else []
    except (OSError, ValueError):
        return []


def final_scores(run_dir: Path) -> dict[str, float]:
    """The last score of each model in the run's ``eval.jsonl``."""
    scores: dict[str, float] = {}
    for row in _rows(run_dir / EVAL_FILE):
        score = score_of(row)
        if score is not None and row.get("model"):
            scores[MODEL_ALIASES.get(str(row["model"]), str(row["model"]))] = score
    return scores


def eval_curve(run_dir: Path, method: str) -> Curve:
    """The in-training evaluations of ``method`` (``<method>/eval.jsonl``)."""
    points = []
    for row in _rows(run_dir / method / EVAL_FILE):
        score, step = score_of(row), row.get("step")
        if score is not None and isinstance(step, (int, float)):
            wall = row.get("wall_time")
            points.append([float(step), float(wall) if isinstance(wall, (int, float)) else None, score])
    return sorted(points, key=lambda p: p[0])


def value_at_step(curve: Curve, step: float) -> float | None:
    """The curve's score at ``step`` (linear between the evaluations around it; ``None`` outside them)."""
    for (s0, _, y0), (s1, _, y1) in itertools.pairwise(curve):
        if s0 <= step <= s1:
            return y0 if s1 == s0 else y0 + (y1 - y0) * (step - s0) / (s1 - s0)
    if curve and curve[-1][0] == step:
        return curve[-1][2]
    return None


def first_reaching(curve: Curve, target: float) -> list[float] | None:
    """The first evaluation whose score reaches ``target``."""
    return next((p for p in curve if p[2] >= target), None)


def noise_counts(run_dir: Path) -> dict[str, Any]:
    """Noisy samples among all, kept and dropped (from samples_meta.jsonl and curation.jsonl)."""
    meta = {str(r.get("id")): r for r in _rows(run_dir / SAMPLES_META_FILE)}
    curation = _rows(run_dir / CURATION_FILE)
    empty = {"noisy": None, "dropped": None, "noisy_dropped": None, "noise_dropped_share": None,
             "noise_kept_share": None}
    if not curation:
        return empty
    dropped = [r for r in curation if not r.get("kept")]
    out = {**empty, "dropped": len(dropped)}
    if not any("noisy" in m for m in meta.values()):
        return out
    noisy = {i for i, m in meta.items() if m.get("noisy")}
    kept = [r for r in curation if r.get("kept")]
    out["noisy"] = sum(1 for r in curation if str(r.get("id")) in noisy)
    out["noisy_dropped"] = sum(1 for r in dropped if str(r.get("id")) in noisy)
    out["noise_dropped_share"] = out["noisy_dropped"] / len(dropped) if dropped else None
    out["noise_kept_share"] = (out["noisy"] - out["noisy_dropped"]) / len(kept) if kept else None
    return out


def group_diagnostics(run_dir: Path) -> dict[str, Any] | None:
    """The curation per group (``srd_core.curation.diagnostics``): recorded groups, else task families."""
    try:
        config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        config = None
    meta = {str(r.get("id")): r for r in _rows(run_dir / SAMPLES_META_FILE)}
    found = run_diagnostics(config if isinstance(config, dict) else None, _rows(run_dir / CURATION_FILE), meta)
    return {"source": found[1], "recorded": found[2], **found[0].to_dict()} if found is not None else None


def collect_row(run_dir: Path, variant: str, seed: int) -> dict[str, Any]:
    """The ``experiment.jsonl`` row of one run."""
    run_dir = Path(run_dir)
    scores = final_scores(run_dir)
    timings = _json(run_dir / TIMINGS_FILE) or {}
    shared = read_shared(run_dir) or {}
    summaries = {m: _json(run_dir / m / SUMMARY_FILE) or {} for m in ("srd", "baseline")}
    curves = {m: eval_curve(run_dir, m) for m in ("srd", "baseline")}
    srd, base = scores.get("srd"), scores.get("baseline")
    srd_steps, base_steps = summaries["srd"].get("steps"), summaries["baseline"].get("steps")
    reflection_s = timings.get("reflect", shared.get("reflect_s"))

    base_curve = list(curves["baseline"])
    if base is not None and base_steps is not None and (not base_curve or base_curve[-1][0] < base_steps):
        base_curve.append([float(base_steps), summaries["baseline"].get("wall_time"), base])
    baseline_at_srd = value_at_step(base_curve, srd_steps) if srd_steps is not None else None
    reached = first_reaching(curves["srd"], base) if base is not None else None
    ttq = None
    if reached is not None and reached[1] is not None:
        ttq = reached[1] + (reflection_s or 0.0)
    own = [v for v in timings.values() if isinstance(v, (int, float))]
    return {
        "variant": variant,
        "seed": seed,
        "run_dir": str(run_dir),
        "teacher": scores.get("teacher"),
        "student_init": scores.get("student_init"),
        "srd": srd,
        "baseline": base,
        "diff": srd - base if srd is not None and base is not None else None,
        "baseline_at_srd_steps": baseline_at_srd,
        "time_to_quality_s": ttq,
        "time_to_quality_step": reached[0] if reached is not None else None,
        "srd_steps": srd_steps,
        "baseline_steps": base_steps,
        "srd_tokens": summaries["srd"].get("tokens"),
        "baseline_tokens": summaries["baseline"].get("tokens"),
        "srd_train_s": summaries["srd"].get("wall_time"),
        "baseline_train_s": summaries["baseline"].get("wall_time"),
        "wall_s": round(sum(own), 3) if own else None,
        "reflection_s": reflection_s,
        "shared": sorted(k for k in ("prepared", "reflection", "evaluations") if shared.get(k)),
        **noise_counts(run_dir),
        "groups": group_diagnostics(run_dir),
        "srd_curve": curves["srd"],
        "baseline_curve": curves["baseline"],
    }
