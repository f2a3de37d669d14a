"""Warnings a user needs about a run, computed from its artifacts: shown once on the console and in the report.

* prompts cut to ``data.max_prompt_tokens`` (their share, and the key to change);
* empty reflections (the initial student answered nothing);
* a difficulty metric that is constant over the data (its ranks are then only the data order), or whose
  most common value ties more than half of the samples (its ranks are then mostly data order);
* a group that the curation starves: it keeps a much smaller share of its samples than all samples do,
  or SRD gives it a much smaller share of the baseline's training passes (thresholds
  ``report.warn_group_kept`` and ``report.warn_group_passes``, see docs/curation-groups.md);
* an eval set too small to call a winner (the verdict then says so instead of naming one).
"""

from __future__ import annotations

import logging
from collections import Counter

from srd_core.config import ReportConfig
from srd_core.report.data import RunArtifacts
from srd_core.rundir import CURATION_FILE

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
    return (
        f"{_share(cut, len(rows))} training prompts were cut from the left to {limit_text} tokens; raise "
        "data.max_prompt_tokens (and data.max_length with it) to keep them whole"
    )


def eval_truncation_warning(run: RunArtifacts) -> str | None:
    """Held-out prompts cut to data.max_prompt_tokens in the final evaluation (the most of any model)."""
    rows = [r for r in run.final.values() if isinstance(r.get("prompts_truncated"), int) and r.get("n")]
    if not rows or not max(r["prompts_truncated"] for r in rows):
        return None
    worst = max(rows, key=lambda r: r["prompts_truncated"])
    limit = ((run.config or {}).get("data") or {}).get("max_prompt_tokens")
    limit_text = f"data.max_prompt_tokens={limit}" if limit is not None else "data.max_prompt_tokens"
    return (
        f"{_share(worst['prompts_truncated'], worst['n'])} evaluation prompts were cut from the left to "
        f"{limit_text} tokens before the models answered; raise data.max_prompt_tokens (and data.max_length "
        "with it) to keep them whole"
    )


def empty_reflection_warning(run: RunArtifacts) -> str | None:
    rows = run.reflection or []
    empty = sum(1 for r in rows if not str(r.get("output", "")).strip())
    if not empty:
        return None
    return (
        f"{_share(empty, len(rows))} reflections are empty (the initial student answered nothing): they score "
        "ROUGE-L 0 and rank hardest; check the student's warm start and reflection.max_new_tokens"
    )


def constant_metric_warnings(run: RunArtifacts) -> list[str]:
    rows = run.curation or []
    if len(rows) < 2:
        return []
    out = []
    for name in rows[0].get("values") or {}:
        values = {r.get("values", {}).get(name) for r in rows}
        if len(values) == 1:
            value = next(iter(values))
            out.append(
                f"difficulty metric {name!r} has the same value ({value}) for all {len(rows)} training "
                "samples: its ranks are just the data order, so it adds nothing to the curriculum"
            )
    return out


def tie_warnings(run: RunArtifacts) -> list[str]:
    """A metric (not constant) whose most common value is shared by more than half of the samples."""
    rows = run.curation or []
    out = []
    for name in (rows[0].get("values") or {}) if rows else {}:
        counts = Counter(r.get("values", {}).get(name) for r in rows)
        if len(counts) < 2:
            continue  # constant: constant_metric_warnings says so
        value, count = counts.most_common(1)[0]
        if count > len(rows) / 2:
            out.append(
                f"difficulty metric {name!r}: {_share(count, len(rows))} training samples tie at the value "
                f"{value}, so its ranks are mostly data order; the initial student's reflections may hardly "
                "differ (consider a longer warm start, or another metric)"
            )
    return out


def group_warnings(run: RunArtifacts) -> list[str]:
    """One line per group (``curriculum.groups``) whose kept share or relative training passes fall below the
    report.* thresholds, relative to the same number over all samples."""
    from srd_core.report.groups import run_groups  # deferred: matplotlib

    groups = run_groups(run)
    if groups is None or not groups.recorded or len(groups.diagnostics.groups) < 2:
        return []  # task families shown in place of groups are a view, not what the user asked curation for
    config = run.config or {}
    report = config.get("report") or {}
    defaults = ReportConfig()
    kept_limit = float(report.get("warn_group_kept", defaults.warn_group_kept))
    passes_limit = float(report.get("warn_group_passes", defaults.warn_group_passes))
    stratified = bool((config.get("curriculum") or {}).get("stratify"))
    total = groups.diagnostics.total
    out = []
    for g in groups.diagnostics.groups:
        problems = []
        if g.kept_share < kept_limit * total.kept_share:
            problems.append(f"keeps {g.kept_share:.0%} of its samples (all samples: {total.kept_share:.0%})")
        if (
            g.relative_passes is not None
            and total.relative_passes is not None
            and g.relative_passes < passes_limit * total.relative_passes
        ):
            problems.append(
                f"{g.relative_passes:.0%} of the baseline's passes (all samples: {total.relative_passes:.0%})"
            )
        if problems:
            advice = "" if stratified else "; consider `curriculum.stratify: true`"
            out.append(f"group {g.group} ({groups.source}): {' and '.join(problems)}{advice}")
    return out


def eval_size(run: RunArtifacts) -> int | None:
    """The number of held-out samples the methods were scored on (the smallest, if they differ)."""
    sizes = [n for m in run.arms if m in run.final and (n := run.final[m].get("n")) is not None]
    return min(sizes) if sizes else None


def small_eval_warning(run: RunArtifacts) -> str | None:
    n = eval_size(run)
    if n is None or n >= MIN_EVAL_SAMPLES:
        return None
    return (
        f"the eval set has only {n} samples, too few to call a winner (at least {MIN_EVAL_SAMPLES}): "
        "use a larger eval split (data.eval, data.limit_eval, eval.max_samples)"
    )


def run_warnings(run: RunArtifacts) -> list[str]:
    """Every warning that applies to ``run``, in pipeline order."""
    found = [
        truncation_warning(run),
        empty_reflection_warning(run),
        *constant_metric_warnings(run),
        *tie_warnings(run),
        *_arm_group_warnings(run),
        eval_truncation_warning(run),
        small_eval_warning(run),
    ]
    return [w for w in found if w]


def _arm_group_warnings(run: RunArtifacts) -> list[str]:
    """The group warnings of every curation of the run, each named by the arms that train on it when there are
    several curations (curation-<arm>/)."""
    if not run.views:
        return group_warnings(run)
    label = ", ".join(run.base_arms) or CURATION_FILE
    out = [f"{label}: {w}" for w in group_warnings(run)]
    for view in run.views:
        out += [f"{', '.join(view.arms)}: {w}" for w in group_warnings(view.run(run))]
    return out


def log_warnings(warnings: list[str]) -> None:
    """Each warning once on the console (stderr, through the ``srd_core`` logger)."""
    for warning in warnings:
        logger.warning("warning: %s", warning)
