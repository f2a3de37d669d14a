"""One ``experiment.jsonl`` row per run, read from whatever its run dir provides (``None`` where absent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from srd_core.arms import curation_views
from srd_core.curation.diagnostics import run_diagnostics
from srd_core.evaluation.curves import interpolate
from srd_core.evaluation.rows import MODEL_ALIASES, score_of
from srd_core.experiment.sharing import read_shared
from srd_core.io import read_jsonl
from srd_core.rundir import (
    CONFIG_FILE,
    CURATION_FILE,
    EVAL_FILE,
    REFLECTION_META_FILE,
    SAMPLES_META_FILE,
    SUMMARY_FILE,
    TIMINGS_FILE,
)
from srd_core.timings import phase_seconds, wall_total

Curve = list[list[Any]]
"""``[[step, wall_time, score, flops], ...]`` in step order (``flops``: the arm's cumulative training compute,
``None`` in rows written before srd counted it)."""


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
            wall, flops = row.get("wall_time"), row.get("flops")
            points.append(
                [
                    float(step),
                    float(wall) if isinstance(wall, (int, float)) else None,
                    score,
                    float(flops) if isinstance(flops, (int, float)) else None,
                ]
            )
    return sorted(points, key=lambda p: p[0])


def value_at_step(curve: Curve, step: float) -> float | None:
    """The curve's score at ``step`` (linear between the evaluations around it; ``None`` outside them)."""
    return interpolate([(p[0], p[2]) for p in curve], step)


def first_reaching(curve: Curve, target: float) -> list[float] | None:
    """The first evaluation whose score reaches ``target``."""
    return next((p for p in curve if p[2] >= target), None)


def noise_counts(run_dir: Path) -> dict[str, Any]:
    """Noisy samples among all, kept and dropped (from samples_meta.jsonl and curation.jsonl)."""
    meta = {str(r.get("id")): r for r in _rows(run_dir / SAMPLES_META_FILE)}
    curation = _rows(run_dir / CURATION_FILE)
    empty = {
        "noisy": None,
        "dropped": None,
        "noisy_dropped": None,
        "noise_dropped_share": None,
        "noise_kept_share": None,
    }
    if not curation:
        return empty
    dropped = [r for r in curation if not r.get("kept")]
    out: dict[str, Any] = {**empty, "dropped": len(dropped)}
    if not any("noisy" in m for m in meta.values()):
        return out
    noisy = {i for i, m in meta.items() if m.get("noisy")}
    kept = [r for r in curation if r.get("kept")]
    out["noisy"] = sum(1 for r in curation if str(r.get("id")) in noisy)
    out["noisy_dropped"] = sum(1 for r in dropped if str(r.get("id")) in noisy)
    out["noise_dropped_share"] = out["noisy_dropped"] / len(dropped) if dropped else None
    out["noise_kept_share"] = (out["noisy"] - out["noisy_dropped"]) / len(kept) if kept else None
    return out


def _arm_names(run_dir: Path) -> list[str]:
    """The run's arms: config.yaml's ``arms``, else srd and baseline (those that left a summary or a curve)."""
    try:
        config = yaml.safe_load((run_dir / CONFIG_FILE).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        config = {}
    listed = config.get("arms") if isinstance(config, dict) else None
    return list(listed) if isinstance(listed, dict) and listed else ["srd", "baseline"]


def _curated(name: str, summary: dict[str, Any]) -> bool:
    return summary["curated"] if isinstance(summary.get("curated"), bool) else name == "srd"


def _compute(summary: dict[str, Any]) -> float | None:
    """An arm's training FLOPs with the build of a teacher cache it read."""
    flops = summary.get("flops")
    return None if flops is None else float(flops) + float(summary.get("teacher_cache_flops") or 0)


def _arm_row(run_dir: Path, name: str, scores: dict[str, float]) -> dict[str, Any]:
    summary = _json(run_dir / name / SUMMARY_FILE) or {}
    return {
        "final": scores.get(name),
        "steps": summary.get("steps"),
        "tokens": summary.get("tokens"),
        "flops": _compute(summary),
        "train_s": summary.get("wall_time"),
        "curated": _curated(name, summary),
        "match_steps_of": summary.get("match_steps_of"),
        "curve": eval_curve(run_dir, name),
        "cache_flops": float(summary.get("teacher_cache_flops") or 0),
    }


def _pair_row(
    arm: str, ref: str, arms: dict[str, dict[str, Any]], reflection_s: float | None, reflection_flops: float | None
) -> dict[str, Any]:
    """The curated arm ``arm`` against the reference arm ``ref``: difference, equal steps, time-to-quality."""
    a, b = arms[arm], arms[ref]
    ref_curve = list(b["curve"])
    if b["final"] is not None and b["steps"] is not None and (not ref_curve or ref_curve[-1][0] < b["steps"]):
        ref_curve.append([float(b["steps"]), b["train_s"], b["final"], b["flops"]])
    reached = first_reaching(a["curve"], b["final"]) if b["final"] is not None else None
    ttq_s = reached[1] + (reflection_s or 0.0) if reached is not None and reached[1] is not None else None
    ttq_flops = None
    if reached is not None and len(reached) > 3 and reached[3] is not None:
        ttq_flops = reached[3] + (reflection_flops or 0.0) + a["cache_flops"]
    total = a["flops"] + (reflection_flops or 0.0) if a["flops"] is not None else None
    return {
        "arm": arm,
        "reference": ref,
        "diff": a["final"] - b["final"] if a["final"] is not None and b["final"] is not None else None,
        "reference_at_arm_steps": value_at_step(ref_curve, a["steps"]) if a["steps"] is not None else None,
        "time_to_quality_s": ttq_s,
        "time_to_quality_flops": ttq_flops,
        "time_to_quality_step": reached[0] if reached is not None else None,
        "compute_ratio": total / b["flops"] if total is not None and b["flops"] else None,
    }


def group_diagnostics(run_dir: Path) -> dict[str, Any] | None:
    """The curation per group (``srd_core.curation.diagnostics``): recorded groups, else task families."""
    return _diagnostics(_config(run_dir), _rows(run_dir / CURATION_FILE), _meta(run_dir))


def _config(run_dir: Path) -> dict[str, Any] | None:
    try:
        config = yaml.safe_load((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        config = None
    return config if isinstance(config, dict) else None


def _meta(run_dir: Path) -> dict[str, Any]:
    return {str(r.get("id")): r for r in _rows(run_dir / SAMPLES_META_FILE)}


def _diagnostics(
    config: dict[str, Any] | None, rows: list[dict[str, Any]], meta: dict[str, Any]
) -> dict[str, Any] | None:
    found = run_diagnostics(config, rows, meta)
    return {"source": found[1], "recorded": found[2], **found[0].to_dict()} if found is not None else None


def arm_group_diagnostics(run_dir: Path) -> dict[str, Any]:
    """The curation per group of each arm curated on its own (``curation-<arm>/``), keyed by that arm; its passes
    are relative to the reference arm's (``srd_core.arms.curation_views``)."""
    views = curation_views(run_dir, _config(run_dir))[1:]
    meta = _meta(run_dir) if views else {}
    return {v.owner: _diagnostics(v.config, _rows(v.path), meta) for v in views if v.owner is not None}


def collect_row(run_dir: Path, variant: str, seed: int) -> dict[str, Any]:
    """The ``experiment.jsonl`` row of one run.

    The top-level columns compare the arms ``srd`` and ``baseline`` (as every run had until arms became
    data); ``arms`` holds every arm's numbers and ``pairs`` every (curated arm, reference arm) comparison.
    Compute (FLOPs) is deterministic where wall time moves with machine load; ``wall_s`` counts arms
    trained at once for as long as they took together.
    """
    run_dir = Path(run_dir)
    scores = final_scores(run_dir)
    timings = _json(run_dir / TIMINGS_FILE) or {}
    shared = read_shared(run_dir) or {}
    reflection_s = timings.get("reflect", shared.get("reflect_s"))
    reflection_flops = ((_json(run_dir / REFLECTION_META_FILE) or {}).get("compute") or {}).get("flops")
    names = _arm_names(run_dir)
    arms = {m: _arm_row(run_dir, m, scores) for m in dict.fromkeys([*names, "srd", "baseline"])}
    curated = [m for m in names if arms[m]["curated"]]
    pairs = [_pair_row(a, b, arms, reflection_s, reflection_flops) for a in curated for b in names if b not in curated]
    legacy = _pair_row("srd", "baseline", arms, reflection_s, reflection_flops)
    srd, base = arms["srd"], arms["baseline"]
    wall, _ = wall_total(timings)
    return {
        "variant": variant,
        "seed": seed,
        "run_dir": str(run_dir),
        "teacher": scores.get("teacher"),
        "student_init": scores.get("student_init"),
        "srd": srd["final"],
        "baseline": base["final"],
        "diff": legacy["diff"],
        "baseline_at_srd_steps": legacy["reference_at_arm_steps"],
        "time_to_quality_s": legacy["time_to_quality_s"],
        "time_to_quality_step": legacy["time_to_quality_step"],
        "time_to_quality_flops": legacy["time_to_quality_flops"],
        "srd_steps": srd["steps"],
        "baseline_steps": base["steps"],
        "srd_tokens": srd["tokens"],
        "baseline_tokens": base["tokens"],
        "srd_flops": srd["flops"],
        "baseline_flops": base["flops"],
        "reflection_flops": reflection_flops,
        "srd_train_s": srd["train_s"],
        "baseline_train_s": base["train_s"],
        "wall_s": round(wall, 3) if phase_seconds(timings) else None,
        "reflection_s": reflection_s,
        "shared": sorted(k for k in ("prepared", "reflection", "evaluations") if shared.get(k)),
        **noise_counts(run_dir),
        "groups": group_diagnostics(run_dir),
        "arm_groups": arm_group_diagnostics(run_dir),
        "srd_curve": srd["curve"],
        "baseline_curve": base["curve"],
        "arms": {m: {k: v for k, v in arms[m].items() if k != "cache_flops"} for m in names},
        "pairs": pairs,
    }
