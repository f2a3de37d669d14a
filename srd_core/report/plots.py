"""The report's figures: one function per plot, each returning a matplotlib ``Figure`` (or ``None``).

Figures are built with the object API (``matplotlib.figure.Figure``), never ``pyplot``: no global
state, no GUI backend, nothing to close. Every axes gets a title, axis labels and a legend.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from matplotlib import colormaps
from matplotlib.figure import Figure

from srd_core.evaluation.rows import SCORE_KEYS

METHOD_STYLE = {
    "srd": {"label": "SRD", "color": "tab:blue", "linestyle": "-", "marker": "o"},
    "baseline": {"label": "plain KD (baseline)", "color": "tab:orange", "linestyle": "--", "marker": "s"},
}
REFERENCE_STYLE = {
    "teacher": {"label": "teacher", "color": "tab:green", "linestyle": "-."},
    "student_init": {"label": "initial student", "color": "dimgray", "linestyle": ":"},
}
EXTRA_STYLES = [
    {"color": "tab:purple", "linestyle": "-", "marker": "^"},
    {"color": "tab:red", "linestyle": "-.", "marker": "v"},
    {"color": "tab:brown", "linestyle": ":", "marker": "D"},
    {"color": "tab:cyan", "linestyle": "--", "marker": "P"},
    {"color": "tab:olive", "linestyle": "-", "marker": "X"},
]
DROPPED_COLOR = "#b0b0b0"
NOISY_EDGE = "black"
TEMPERATURE_KEYS = ("T", "temperature")
SFT_WEIGHT_KEYS = ("w_sft", "sft_weight")


FIGURE_DPI = 150
"""PNG resolution; the HTML shows each image at 100 px per inch, so it stays sharp on HiDPI screens."""
WIDE = 10.8
"""Width (inches) of full-width figures: 1080 CSS pixels, the report's content width."""


def figure_png(fig: Figure, dpi: int = FIGURE_DPI) -> bytes:
    """The PNG bytes of ``fig``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def bin_colors(n_bins: int) -> list[Any]:
    """One colour per curriculum bin, easy (1) to hard (n), from the viridis map."""
    cmap = colormaps["viridis"]
    if n_bins <= 1:
        return [cmap(0.25)]
    return [cmap(0.1 + 0.75 * i / (n_bins - 1)) for i in range(n_bins)]


def arm_style(arm: str, order: Sequence[str] = ()) -> dict[str, Any]:
    """Line style of an arm: SRD blue, the baseline orange, other arms in a fixed cycle by their position."""
    if arm in METHOD_STYLE:
        return dict(METHOD_STYLE[arm])
    others = [a for a in order if a not in METHOD_STYLE]
    index = others.index(arm) if arm in others else 0
    return {"label": arm, **EXTRA_STYLES[index % len(EXTRA_STYLES)]}


def first_value(row: dict[str, Any], keys: Sequence[str]) -> Any:
    """The value of the first of ``keys`` present (and not None) in ``row``."""
    for key in keys:
        if row.get(key) is not None:
            return row[key]
    return None


def _series(rows: list[dict[str, Any]], x_key: str, y_keys: Sequence[str]) -> tuple[list[float], list[float]]:
    """(x, y) pairs of rows that have both values, sorted by x."""
    pairs = []
    for row in rows:
        x, y = row.get(x_key), first_value(row, y_keys)
        if x is not None and y is not None:
            pairs.append((float(x), float(y)))
    pairs.sort()
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _time_unit(max_seconds: float) -> tuple[float, str]:
    """Divisor and label for a wall-time axis (minutes once the run passes five minutes)."""
    return (60.0, "min") if max_seconds > 300 else (1.0, "s")


def plot_eval_curves(
    evals: dict[str, list[dict[str, Any]] | None],
    references: dict[str, float],
    time_offsets: dict[str, float] | None = None,
    flops_offsets: dict[str, float] | None = None,
) -> Figure | None:
    """Held-out ROUGE-L during training vs wall time, vs optimizer step and vs compute (FLOPs), per arm.

    ``evals`` maps each arm to its eval.jsonl rows; ``references`` maps "teacher"/"student_init" to a final
    score drawn as a horizontal line; ``time_offsets`` and ``flops_offsets`` shift an arm's wall times and
    FLOPs (a curated arm's by its reflection and curation, a cached teacher's build). The compute panel is
    drawn when the rows carry ``flops``. ``None`` when no arm has an evaluation during training.
    """
    offsets, flops_offsets = time_offsets or {}, flops_offsets or {}
    curves = {m: rows for m, rows in evals.items() if rows and _series(rows, "step", SCORE_KEYS)[0]}
    if not curves:
        return None
    max_time = max((r.get("wall_time") or 0.0) + offsets.get(m, 0.0) for m, rows in curves.items() for r in rows)
    divisor, unit = _time_unit(float(max_time))
    with_flops = any(_series(rows, "flops", SCORE_KEYS)[0] for rows in curves.values())
    fig = Figure(figsize=(WIDE * (1.3 if with_flops else 1.0), 4.4), layout="constrained")
    axes = fig.subplots(1, 3 if with_flops else 2, sharey=True)
    ax_time, ax_step = axes[0], axes[1]
    order = list(curves)
    for method, rows in curves.items():
        style = arm_style(method, order)
        t, y = _series(rows, "wall_time", SCORE_KEYS)
        ax_time.plot([(v + offsets.get(method, 0.0)) / divisor for v in t], y, markersize=4, **style)
        s, y = _series(rows, "step", SCORE_KEYS)
        ax_step.plot(s, y, markersize=4, **style)
        if with_flops:
            f, y = _series(rows, "flops", SCORE_KEYS)
            axes[2].plot([v + flops_offsets.get(method, 0.0) for v in f], y, markersize=4, **style)
    if with_flops:
        axes[2].set_title("Held-out ROUGE-L vs compute")
        axes[2].set_xlabel("FLOPs (curated arms include reflection)")
        axes[2].set_ylabel("ROUGE-L (×100)")
        axes[2].yaxis.set_tick_params(labelleft=True)
    for ax in axes:
        for name, value in references.items():
            ax.axhline(value, linewidth=1.4, **REFERENCE_STYLE.get(name, {"label": name}))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=9)
    ax_time.set_title("Held-out ROUGE-L vs wall time")
    ax_time.set_xlabel(
        f"wall time ({unit}; SRD's includes reflection)" if any(offsets.values()) else f"training wall time ({unit})"
    )
    ax_time.set_ylabel("ROUGE-L (×100)")
    ax_step.set_title("Held-out ROUGE-L vs optimizer step")
    ax_step.set_xlabel("optimizer step")
    ax_step.set_ylabel("ROUGE-L (×100)")
    ax_step.yaxis.set_tick_params(labelleft=True)
    return fig


def _stacked_hist(ax: Any, kept: list[float], dropped: list[float], bins: int = 30) -> None:
    """A histogram of kept and dropped values stacked on common bin edges."""
    values = kept + dropped
    lo, hi = min(values), max(values)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    ax.hist(
        [kept, dropped],
        bins=bins,
        range=(lo, hi),
        stacked=True,
        color=["tab:blue", DROPPED_COLOR],
        label=[f"kept ({len(kept)})", f"dropped ({len(dropped)})"],
        edgecolor="white",
        linewidth=0.4,
    )
    ax.legend(loc="best", fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)


def plot_difficulty(curation: list[dict[str, Any]], metric_labels: dict[str, tuple[str, str]]) -> Figure | None:
    """Fused difficulty score and each metric's values, stacked kept vs dropped (one panel each).

    ``metric_labels`` maps a metric name to its (axis label, panel title).
    """
    if not curation:
        return None
    metrics = [m for m in metric_labels if any(m in (r.get("values") or {}) for r in curation)]
    panels = 1 + len(metrics)
    cols = min(panels, 3)
    rows = -(-panels // cols)
    fig = Figure(figsize=(WIDE, 3.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    kept = [float(r["fused"]) for r in curation if r.get("kept") and r.get("fused") is not None]
    dropped = [float(r["fused"]) for r in curation if not r.get("kept") and r.get("fused") is not None]
    _stacked_hist(axes[0], kept, dropped)
    axes[0].set_title("Fused difficulty score (RRF)")
    axes[0].set_xlabel("fused score (higher = easier)")
    axes[0].set_ylabel("samples")
    for ax, metric in zip(axes[1:], metrics, strict=False):
        k = [float(r["values"][metric]) for r in curation if r.get("kept") and metric in (r.get("values") or {})]
        d = [float(r["values"][metric]) for r in curation if not r.get("kept") and metric in (r.get("values") or {})]
        _stacked_hist(ax, k, d)
        label, title = metric_labels[metric]
        ax.set_title(title)
        ax.set_xlabel(label)
        ax.set_ylabel("samples")
    for ax in axes[panels:]:
        ax.set_visible(False)
    return fig


def plot_rouge_vs_ce(
    curation: list[dict[str, Any]],
    rouge_key: str,
    ce_key: str,
    noisy_ids: set[str] | None = None,
) -> Figure | None:
    """Each training sample's reflection ROUGE-L vs its CE, coloured by curriculum bin, dropped in grey.

    Noisy samples (when known) get a black ring. ``None`` if the curation lacks either metric.
    """
    points = [r for r in curation if rouge_key in (r.get("values") or {}) and ce_key in (r.get("values") or {})]
    if not points:
        return None
    fig = Figure(figsize=(8.6, 5.6), layout="constrained")
    ax = fig.subplots()
    dropped = [r for r in points if not r.get("kept")]
    bins = sorted({int(r["bin"]) for r in points if r.get("kept") and r.get("bin") is not None})
    colors = bin_colors(len(bins))
    if dropped:
        ax.scatter(
            [r["values"][rouge_key] for r in dropped],
            [r["values"][ce_key] for r in dropped],
            s=14,
            color=DROPPED_COLOR,
            alpha=0.8,
            label=f"dropped ({len(dropped)})",
        )
    for b, color in zip(bins, colors, strict=True):
        group = [r for r in points if r.get("kept") and r.get("bin") == b]
        ax.scatter(
            [r["values"][rouge_key] for r in group],
            [r["values"][ce_key] for r in group],
            s=14,
            color=color,
            alpha=0.85,
            label=f"bin {b + 1 if min(bins) == 0 else b} ({len(group)})",
        )
    if noisy_ids:
        noisy = [r for r in points if r.get("id") in noisy_ids]
        if noisy:
            ax.scatter(
                [r["values"][rouge_key] for r in noisy],
                [r["values"][ce_key] for r in noisy],
                s=46,
                facecolors="none",
                edgecolors=NOISY_EDGE,
                linewidths=0.8,
                label=f"noisy sample ({len(noisy)})",
            )
    ax.set_title("Reflection difficulty: ROUGE-L vs cross-entropy, by curriculum bin")
    ax.set_xlabel("ROUGE-L F1 of the student's reflection (higher = easier)")
    ax.set_ylabel("student cross-entropy on the reference (nats/token)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=9, title="bin 1 = easiest", title_fontsize=9)
    return fig


def _stage_starts(rows: list[dict[str, Any]]) -> list[float]:
    """Steps at which the stage changes (after the first), for vertical guide lines."""
    starts, previous = [], None
    for row in sorted(rows, key=lambda r: r.get("step") or 0):
        stage = row.get("stage")
        if previous is not None and stage is not None and stage != previous and row.get("step") is not None:
            starts.append(float(row["step"]))
        previous = stage if stage is not None else previous
    return starts


def plot_schedules(metrics: dict[str, list[dict[str, Any]] | None]) -> Figure | None:
    """Temperature and SFT weight per logged step, SRD and baseline; SRD stage changes as dotted lines."""
    present = {m: rows for m, rows in metrics.items() if rows}
    if not present:
        return None
    fig = Figure(figsize=(WIDE, 4.0), layout="constrained")
    ax_t, ax_w = fig.subplots(1, 2)
    for ax, keys, name in ((ax_t, TEMPERATURE_KEYS, "temperature T"), (ax_w, SFT_WEIGHT_KEYS, "SFT weight w_sft")):
        drawn = False
        for method, rows in present.items():
            x, y = _series(rows, "step", keys)
            if x:
                style = arm_style(method, list(present))
                style.pop("marker", None)
                ax.plot(x, y, drawstyle="steps-post", linewidth=2, **style)
                drawn = True
        for i, step in enumerate(_stage_starts(present.get("srd") or [])):
            ax.axvline(step, color="gray", linestyle=":", linewidth=1, label="SRD stage change" if i == 0 else None)
        if not drawn:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"{name[0].upper()}{name[1:]} per step")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=9)
    return fig


def plot_training_loss(metrics: dict[str, list[dict[str, Any]] | None]) -> Figure | None:
    """Total loss and ground-truth CE per logged step for SRD and the baseline."""
    present = {m: rows for m, rows in metrics.items() if rows and _series(rows, "step", ("loss", "ce"))[0]}
    if not present:
        return None
    fig = Figure(figsize=(WIDE, 4.0), layout="constrained")
    ax_loss, ax_ce = fig.subplots(1, 2)
    for ax, key, title in ((ax_loss, "loss", "Training loss"), (ax_ce, "ce", "Cross-entropy on the reference")):
        for method, rows in present.items():
            x, y = _series(rows, "step", (key,))
            if x:
                style = arm_style(method, list(present))
                style.pop("marker", None)
                ax.plot(x, y, linewidth=1.6, **style)
        ax.set_title(f"{title} per step")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(f"{key} (nats/token)")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=9)
    return fig


def plot_noise_by_bin(curation: list[dict[str, Any]], noisy: dict[str, bool]) -> Figure | None:
    """Share of noisy samples in each curriculum bin and among the dropped samples (bar chart)."""
    groups: dict[str, list[bool]] = {}
    bins = sorted({int(r["bin"]) for r in curation if r.get("kept") and r.get("bin") is not None})
    offset = 1 if bins and min(bins) == 0 else 0
    for b in bins:
        groups[f"bin {b + offset}"] = [
            noisy[r["id"]] for r in curation if r.get("kept") and r.get("bin") == b and r.get("id") in noisy
        ]
    groups["dropped"] = [noisy[r["id"]] for r in curation if not r.get("kept") and r.get("id") in noisy]
    groups = {k: v for k, v in groups.items() if v}
    if not groups:
        return None
    fig = Figure(figsize=(7.6, 4.2), layout="constrained")
    ax = fig.subplots()
    names = list(groups)
    shares = [100.0 * sum(v) / len(v) for v in groups.values()]
    colors = [*bin_colors(len(names) - 1), DROPPED_COLOR] if names[-1] == "dropped" else bin_colors(len(names))
    bars = ax.bar(names, shares, color=colors[: len(names)])
    overall = [x for v in groups.values() for x in v]
    overall_share = 100.0 * sum(overall) / len(overall)
    ax.axhline(
        overall_share,
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"all training samples ({overall_share:.1f}% noisy)",
    )
    for bar, share, members in zip(bars, shares, groups.values(), strict=True):
        ax.annotate(
            f"{share:.1f}% of {len(members)}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=9,
            xytext=(0, 2),
            textcoords="offset points",
        )
    ax.set_title("Share of noisy training samples per curriculum bin and among the dropped")
    ax.set_xlabel("curriculum bin (easy → hard) or dropped")
    ax.set_ylabel("noisy samples (%)")
    ax.set_ylim(0, max(max(shares), overall_share) * 1.45 + 1)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", fontsize=9)
    return fig
