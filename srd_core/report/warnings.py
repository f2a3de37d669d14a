"""Warnings a user needs about a run, computed from its artifacts: shown once on the console and in the report.

* prompts cut to ``data.max_prompt_tokens`` (their share, and the key to change);
* empty reflections (the initial student answered nothing);
* a difficulty metric that is constant over the data (its ranks are then only the data order);
* an eval set too small to call a winner (the verdict then says so instead of naming one).
"""

from __future__ import annotations

import logging

from srd_core.report.data import RunArtifacts

logger = logging.getLogger(__name__)

MIN_EVAL_SAMPLES = 50
"""Fewer held-out samples than this cannot separate two students: ROUGE-L varies by tens of points per
sample, so the standard error of a mean over n samples is several points below n ≈ 50."""


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({part / whole:.1%})"


def truncation_warning(run: RunArtifacts) -> str | None:
    rows = run.reflection or []
    cut = sum(1 for r in rows if r.get("prompt_truncated"))
    if not cut:
        return None
    limit = ((run.config or {}).get("data") or {}).get("max_prompt_tokens")
    limit_text = f"data.max_prompt_tokens={limit}" if limit is not None else "data.max_prompt_tokens"
    return (f"{_share(cut, len(rows))} training prompts were cut from the left to {limit_text} tokens; raise "
            "data.max_prompt_tokens (and data.max_length with it) to keep them whole")


def empty_reflection_warning(run: RunArtifacts) -> str | None:
    rows = run.reflection or []
    empty = sum(1 for r in rows if not str(r.get("output", "")).strip())
    if not empty:
        return None
    return (f"{_share(empty, len(rows))} reflections are empty (the initial student answered nothing): they score "
            "ROUGE-L 0 and rank hardest; check the student's warm start and reflection.max_new_tokens")


def constant_metric_warnings(run: RunArtifacts) -> list[str]:
    rows = run.curation or []
    if len(rows) < 2:
        return []
    out = []
    for name in rows[0].get("values") or {}:
        values = {r.get("values", {}).get(name) for r in rows}
        if len(values) == 1:
            value = next(iter(values))
            out.append(f"difficulty metric {name!r} has the same value ({value}) for all {len(rows)} training "
                       "samples: its ranks are just the data order, so it adds nothing to the curriculum")
    return out


def eval_size(run: RunArtifacts) -> int | None:
    """The number of held-out samples the methods were scored on (the smallest, if they differ)."""
    sizes = [run.final[m].get("n") for m in run.arms if m in run.final and run.final[m].get("n") is not None]
    return min(sizes) if sizes else None


def small_eval_warning(run: RunArtifacts) -> str | None:
    n = eval_size(run)
    if n is None or n >= MIN_EVAL_SAMPLES:
        return None
    return (f"the eval set has only {n} samples, too few to call a winner (at least {MIN_EVAL_SAMPLES}): "
            "use a larger eval split (data.eval, data.limit_eval, eval.max_samples)")


def run_warnings(run: RunArtifacts) -> list[str]:
    """Every warning that applies to ``run``, in pipeline order."""
    found = [truncation_warning(run), empty_reflection_warning(run), *constant_metric_warnings(run),
             small_eval_warning(run)]
    return [w for w in found if w]


def log_warnings(warnings: list[str]) -> None:
    """Each warning once on the console (stderr, through the ``srd_core`` logger)."""
    for warning in warnings:
        logger.warning("warning: %s", warning)
