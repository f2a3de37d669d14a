"""``srd report RUN_DIR``: a self-contained report.html and plots/*.png from a run directory.

A missing artifact (no baseline, no evaluations during training, no sample metadata) turns the parts
that need it into "not available" instead of failing. Reading lives in ``report_data``, the numbers
and verdict in ``report_summary``, the figures in ``report_plots``, the page in ``report_html``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from matplotlib.figure import Figure

from srd_core.evaluation.rows import score_of
from srd_core.io import write_bytes_atomic, write_text_atomic
from srd_core.report import plots
from srd_core.report.contents import PlotSpec, Report
from srd_core.report.data import RunArtifacts, load_run
from srd_core.report.groups import plot_groups, run_groups
from srd_core.report.html import render_html
from srd_core.report.summary import compute_verdict, summarize
from srd_core.report.warnings import log_warnings, run_warnings
from srd_core.rundir import CURATION_FILE, PLOTS_DIR, REPORT_FILE

METRIC_LABELS = {
    "rouge_l": ("ROUGE-L F1 (higher = easier)", "ROUGE-L of the student's reflection"),
    "cross_entropy": ("cross-entropy (nats/token, lower = easier)", "Student CE on the reference"),
}
"""(axis label, panel title) of the built-in difficulty metrics; other metrics are named as registered."""


# --- figures ------------------------------------------------------------------------------------


def _references(run: RunArtifacts) -> dict[str, float]:
    # a final row without a score draws no reference line (axhline(None) would fail)
    return {
        m: score
        for m in ("teacher", "student_init")
        if m in run.final and (score := score_of(run.final[m])) is not None
    }


def _time_offsets(run: RunArtifacts) -> dict[str, float]:
    timings = run.timings or {}
    overhead = float(timings.get("reflect", 0.0)) + float(timings.get("curate", 0.0))
    return {arm: overhead for arm in run.arms if run.curated(arm)}


def _flops_offsets(run: RunArtifacts) -> dict[str, float]:
    """Compute an arm spent before its first step: reflection (curated arms) and the teacher cache it read."""
    offsets = {}
    for arm in run.arms:
        cache = float((run.train_summaries.get(arm) or {}).get("teacher_cache_flops") or 0)
        offsets[arm] = cache + ((run.reflection_flops or 0.0) if run.curated(arm) else 0.0)
    return offsets


def _noisy_ids(run: RunArtifacts) -> set[str] | None:
    if not run.samples_meta:
        return None
    return {sid for sid, m in run.samples_meta.items() if m.get("noisy")}


def _scatter(run: RunArtifacts) -> Figure | None:
    return plots.plot_rouge_vs_ce(run.curation or [], "rouge_l", "cross_entropy", _noisy_ids(run))


def _noise(run: RunArtifacts) -> Figure | None:
    if not run.curation or not run.samples_meta or not any("noisy" in m for m in run.samples_meta.values()):
        return None
    return plots.plot_noise_by_bin(run.curation, {sid: bool(m.get("noisy")) for sid, m in run.samples_meta.items()})


def _metric_labels(run: RunArtifacts) -> dict[str, tuple[str, str]]:
    names: dict[str, tuple[str, str]] = {}
    for row in run.curation or []:
        for name in row.get("values") or {}:
            readable = name.replace("_", " ")
            names.setdefault(name, METRIC_LABELS.get(name, (readable, f"Difficulty metric: {readable}")))
    return names


PLOTS: list[PlotSpec] = [
    PlotSpec(
        "eval_curves",
        "Held-out ROUGE-L during training",
        "Evaluations during training against wall time (left; SRD's starts after its reflection and curation), "
        "optimizer steps (middle) and compute in FLOPs (right; 6·N per student token trained, 2·N per online "
        "teacher token, the reflection pass and a teacher cache's build counted where they are spent; see "
        "docs/performance.md). Horizontal lines: the teacher and the initial student (final evaluation).",
        lambda run: plots.plot_eval_curves(run.evals, _references(run), _time_offsets(run), _flops_offsets(run)),
        "no evaluations during training (srd/eval.jsonl, baseline/eval.jsonl; set train.eval_every)",
    ),
    PlotSpec(
        "difficulty",
        "Difficulty distribution: kept vs dropped",
        "The fused RRF score and each difficulty metric of every training sample; grey = the hardest tail "
        "that the curation dropped.",
        lambda run: plots.plot_difficulty(run.curation or [], _metric_labels(run)),
        "no curation.jsonl",
    ),
    PlotSpec(
        "rouge_vs_ce",
        "Reflection ROUGE-L vs cross-entropy",
        "One point per training sample. Colour = curriculum bin (1 = easiest, trained first); grey = dropped; "
        "a black ring marks a noisy sample when the data records it.",
        _scatter,
        "no curation.jsonl with rouge_l and cross_entropy metric values",
    ),
    PlotSpec(
        "noise_by_bin",
        "Noisy samples per bin",
        "Share of noisy (corrupted) training samples in each curriculum bin and among the dropped samples.",
        _noise,
        "no curation.jsonl or no per-sample noise metadata (samples_meta.jsonl)",
    ),
    PlotSpec(
        "groups",
        "Curation per group",
        "Left: the share of each group's samples that the curation kept, and the training passes SRD gives the "
        "group relative to the baseline (lines: the same over all samples). Right: what each curriculum bin "
        "holds, beside the share of each group among all training samples.",
        lambda run: plot_groups(run_groups(run)),
        "no curation.jsonl with groups (curriculum.groups) and no task family in the sample metadata",
    ),
    PlotSpec(
        "schedules",
        "Temperature and SFT weight per step",
        "The KD temperature T and the weight of the ground-truth CE term at each logged step; dotted lines: "
        "SRD's stage changes.",
        lambda run: plots.plot_schedules(run.metrics),
        "no srd/metrics.jsonl or baseline/metrics.jsonl",
    ),
    PlotSpec(
        "train_loss",
        "Training loss",
        "Total loss (depends on T and w_sft, so not comparable across methods) and the CE on the reference "
        "response, per logged step.",
        lambda run: plots.plot_training_loss(run.metrics),
        "no srd/metrics.jsonl or baseline/metrics.jsonl",
    ),
]


CURATION_PLOTS = ("difficulty", "rouge_vs_ce", "noise_by_bin", "groups")
"""The figures drawn from a curation: one per curation when the run's arms have several (curation-<arm>/)."""


def _plots(run: RunArtifacts) -> list[tuple[PlotSpec, RunArtifacts]]:
    """Every figure with the run it is drawn from: a curation figure once per curation, headed by its arms."""
    if not run.views:
        return [(spec, run) for spec in PLOTS]
    out = []
    for spec in PLOTS:
        if spec.name not in CURATION_PLOTS:
            out.append((spec, run))
            continue
        out.append((replace(spec, heading=f"{spec.heading}: {', '.join(run.base_arms) or CURATION_FILE}"), run))
        out += [
            (
                replace(spec, name=f"{spec.name}-{view.owner}", heading=f"{spec.heading}: {', '.join(view.arms)}"),
                view.run(run),
            )
            for view in run.views
        ]
    return out


def build_report(run_dir: str | Path) -> Report:
    """Read ``run_dir``, compute the summary and verdict, and draw every available figure (the curation figures
    for each curation the arms train on)."""
    run = load_run(run_dir)
    summary = summarize(run)
    plotted = _plots(run)
    figures = {spec.name: spec.build(source) for spec, source in plotted}
    return Report(run, summary, compute_verdict(summary), figures, [spec for spec, _ in plotted], run_warnings(run))


def write_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/plots/*.png`` and ``run_dir/report.html`` atomically; returns the HTML path."""
    report = build_report(run_dir)
    plots_dir = Path(run_dir) / PLOTS_DIR
    pngs: dict[str, bytes | None] = {}
    for name, fig in report.figures.items():
        png = pngs[name] = plots.figure_png(fig) if fig is not None else None
        if png is not None:
            write_bytes_atomic(plots_dir / f"{name}.png", png)
        elif (plots_dir / f"{name}.png").exists():
            (plots_dir / f"{name}.png").unlink()
    out = Path(run_dir) / REPORT_FILE
    write_text_atomic(out, render_html(report, pngs))
    log_warnings(report.warnings)
    return out
