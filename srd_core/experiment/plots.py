"""The experiment page's figures (matplotlib, Agg), returned as PNG bytes."""

from __future__ import annotations

import io
import statistics
from typing import Any

from srd_core.experiment.stats import VariantStats

COLORS = {"srd": "#2f6fdb", "baseline": "#e07b00", "teacher": "#6b7280"}
DPI = 110


def _figure(width: float, height: float):
    import matplotlib  # deferred: matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: matplotlib

    return plt.subplots(figsize=(width, height), dpi=DPI)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt  # deferred: matplotlib

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _score_series(stats: list[VariantStats], rows: list[dict[str, Any]]):
    """(label, colour, per-variant Spread or None, per-variant seed values) of every arm the rows list, else of
    SRD and plain KD (rows from before arms were data)."""
    names = list(dict.fromkeys(a.name for v in stats for a in v.arms))
    if not names:
        return [
            (
                label,
                COLORS[key],
                [v.columns[key] for v in stats],
                [[r[key] for r in rows if r["variant"] == v.variant and r.get(key) is not None] for v in stats],
            )
            for key, label in (("srd", "SRD"), ("baseline", "plain KD"))
        ]
    palette = ["#1f9d55", "#9b59b6", "#c0392b", "#16a085", "#8a6d3b", "#7f8c8d"]  # besides srd's and baseline's
    others = iter(palette * len(names))
    out = []
    for name in names:
        spreads = [next((a.score for a in v.arms if a.name == name), None) for v in stats]
        seeds = [
            [(r.get("arms") or {}).get(name, {}).get("final") for r in rows if r["variant"] == v.variant] for v in stats
        ]
        out.append((name, COLORS.get(name) or next(others), spreads, [[x for x in s if x is not None] for s in seeds]))
    return out


def plot_scores(stats: list[VariantStats], rows: list[dict[str, Any]]) -> bytes | None:
    """Final ROUGE-L per variant and arm (SRD and plain KD for rows without arms): mean ± sd bars with every seed
    as a dot."""
    series = _score_series(stats, rows)
    if not any(s is not None and s.n for _, _, spreads, _ in series for s in spreads):
        return None
    fig, ax = _figure(max(5.5, (0.4 * len(series) + 0.8) * len(stats) + 2), 3.6)
    width = 0.8 / len(series)
    for j, (label, color, spreads, seeds) in enumerate(series):
        for i, s in enumerate(spreads):
            if s is None or s.mean is None:
                continue
            x = i + (j - (len(series) - 1) / 2) * width
            ax.bar(
                x,
                s.mean,
                width * 0.92,
                color=color,
                alpha=0.8,
                label=label if i == 0 or spreads[0] is None else None,
                yerr=s.sd or 0,
                capsize=4,
                error_kw={"elinewidth": 1.2},
            )
            ax.scatter([x] * len(seeds[i]), seeds[i], s=14, color="black", zorder=3)
    ax.set_xticks(range(len(stats)), [v.variant for v in stats], rotation=15 if len(stats) > 3 else 0)
    ax.set_ylabel("ROUGE-L ×100 (final)")
    values = [x for _, _, _, seeds in series for values in seeds for x in values]
    if values:
        low, high = min(values), max(values)
        pad = max(1.0, (high - low) * 0.6)
        ax.set_ylim(max(0.0, low - pad), min(100.0, high + pad))
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), loc="lower right", fontsize=8)
    ax.set_title("Final scores: mean ± sd over seeds (dots: seeds)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def plot_differences(stats: list[VariantStats]) -> bytes | None:
    """Paired differences per variant: each seed, the mean and its 95% t interval. With arms: each curated arm −
    each reference arm (and the curated arms against each other); else SRD − plain KD."""
    arms = any(v.arm_pairs or v.curated_pairs for v in stats)
    if arms:
        items = [(f"{v.variant}: {d.a} − {d.b}", d) for v in stats for d in [*v.arm_pairs, *v.curated_pairs] if d.n]
    else:
        items = [(v.variant, v.srd_vs_baseline) for v in stats if v.srd_vs_baseline.n]
    items += [(f"{v.variant} − ref", v.vs_reference) for v in stats if v.vs_reference and v.vs_reference.n]
    if not items:
        return None
    fig, ax = _figure(6.4, 0.55 * len(items) + 1.6)
    for y, (_, d) in enumerate(items):
        if d.low is not None:
            ax.hlines(y, d.low, d.high, color="#1d2330", linewidth=2.2)
            ax.vlines([d.low, d.high], y - 0.15, y + 0.15, color="#1d2330", linewidth=1.5)
        ax.scatter(d.diffs, [y] * d.n, s=16, color="#8a93a3", zorder=3)
        color = "#1f9d55" if d.winner is not None else "#2f6fdb"
        ax.scatter([d.mean], [y], s=52, marker="D", color=color, zorder=4)
    ax.axvline(0, color="#c0392b", linewidth=1, linestyle="--")
    ax.set_yticks(range(len(items)), [label for label, _ in items])
    ax.set_ylim(-0.7, len(items) - 0.3)
    ax.invert_yaxis()
    ax.set_xlabel("ROUGE-L difference (points)")
    what = "Arm − arm" if arms else "SRD − plain KD"
    ax.set_title(f"{what} per seed (grey), mean (◆) and 95% t interval", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def _mean_band(curves: list[list[list[float]]], x: str = "step") -> tuple[list[float], list[float], list[float]]:
    """Mean and sd at the steps every seed evaluated; ``x="flops"``: at each such step's mean FLOPs (steps where a
    seed's row has no FLOPs are left out)."""
    common = set.intersection(*({p[0] for p in c} for c in curves)) if curves else set()
    steps = sorted(common)
    points = [[next(p for p in c if p[0] == s) for c in curves] for s in steps]
    if x == "flops":
        points = [ps for ps in points if all(len(p) > 3 and p[3] is not None for p in ps)]
        xs = [statistics.fmean(p[3] for p in ps) for ps in points]
    else:
        xs = [ps[0][0] for ps in points]
    by_step = [[p[2] for p in ps] for ps in points]
    means = [statistics.fmean(v) for v in by_step]
    sds = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in by_step]
    return xs, means, sds


def plot_curves(stats: list[VariantStats], rows: list[dict[str, Any]], x: str = "step") -> bytes | None:
    """Eval curves per variant: mean over seeds with a ±1 sd band, SRD and plain KD, against optimizer steps or
    (``x="flops"``) training compute (the curated arm's reflection included)."""
    variants = [v.variant for v in stats if any(r.get("srd_curve") for r in rows if r["variant"] == v.variant)]
    if x == "flops" and not any(len(p) > 3 and p[3] is not None for r in rows for p in r.get("srd_curve") or []):
        return None  # rows written before srd counted FLOPs
    if not variants:
        return None
    import matplotlib  # deferred: matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: matplotlib

    cols = min(3, len(variants))
    nrows = (len(variants) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.3 * cols, 3.1 * nrows), dpi=DPI, squeeze=False, sharey=True)
    for ax, variant in zip(axes.flat, variants, strict=False):
        members = [r for r in rows if r["variant"] == variant]
        for key, label in (("srd", "SRD"), ("baseline", "plain KD")):
            curves = [r[f"{key}_curve"] for r in members if r.get(f"{key}_curve")]
            if x == "flops" and key == "srd":  # charged the reflection pass, as its time-to-quality is
                curves = [
                    [
                        [*p[:3], p[3] + (r.get("reflection_flops") or 0) if len(p) > 3 and p[3] is not None else None]
                        for p in r["srd_curve"]
                    ]
                    for r in members
                    if r.get("srd_curve")
                ]
            steps, means, sds = _mean_band(curves, x)
            if not steps:
                continue
            ax.plot(steps, means, color=COLORS[key], marker="o", markersize=3, label=f"{label} (n={len(curves)})")
            low = [m - s for m, s in zip(means, sds, strict=True)]
            high = [m + s for m, s in zip(means, sds, strict=True)]
            ax.fill_between(steps, low, high, color=COLORS[key], alpha=0.18, linewidth=0)
        ax.set_title(variant, fontsize=10)
        ax.set_xlabel("FLOPs (SRD's include reflection)" if x == "flops" else "optimizer step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(variants) :]:
        ax.set_visible(False)
    axes[0][0].set_ylabel("ROUGE-L ×100")
    fig.suptitle("Eval curves: mean over seeds, band = ±1 sd", fontsize=10)
    return _png(fig)


def plot_time_to_quality(rows: list[dict[str, Any]]) -> bytes | None:
    """Per seed: seconds until SRD first reached plain KD's final score (reflection included); × = never."""
    if not any(r.get("baseline") is not None and r.get("srd_curve") for r in rows):
        return None
    fig, ax = _figure(max(5.5, 0.45 * len(rows) + 2), 3.4)
    labels, top = [], max([r["time_to_quality_s"] for r in rows if r.get("time_to_quality_s")] or [1.0])
    for i, r in enumerate(rows):
        labels.append(f"{r['variant']}\nseed {r['seed']}")
        value = r.get("time_to_quality_s")
        full = (r.get("srd_train_s") or 0) + (r.get("reflection_s") or 0)
        if full:
            ax.bar(i, full, 0.7, color="#dde1e7", label="SRD reflection + training" if i == 0 else None)
        if value is not None:
            ax.bar(i, value, 0.45, color=COLORS["srd"], label="time-to-quality" if i == 0 else None)
        else:
            ax.scatter(
                [i],
                [top * 0.05],
                marker="x",
                color="#c0392b",
                s=40,
                zorder=3,
                label="never reached" if not any(x.get_label() == "never reached" for x in ax.collections) else None,
            )
    ax.set_xticks(range(len(rows)), labels, fontsize=7)
    ax.set_ylabel("seconds")
    ax.set_title("SRD's time to plain KD's final score, per seed", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)
