"""The report's view of the curation per group: which groups, their diagnostics, a table and a figure.

Groups are the ones curation.jsonl records (``curriculum.groups``); a run curated without groups is
shown by task family when every training sample's metadata has one (the synthetic task does), so a
global ranking that starves a family is visible without re-curating.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from matplotlib import colormaps
from matplotlib.figure import Figure

from srd_core.curation.diagnostics import GroupDiagnostics, run_diagnostics
from srd_core.report.data import RunArtifacts
from srd_core.report.plots import WIDE


@dataclass
class RunGroups:
    """A run's group diagnostics and where its groups came from."""

    diagnostics: GroupDiagnostics
    source: str
    recorded: bool
    """Whether the groups are the curation's own (``curriculum.groups``), not task families shown instead."""


def run_groups(run: RunArtifacts) -> RunGroups | None:
    """The diagnostics of ``run`` (None without curation, or without recorded groups or task families)."""
    found = run_diagnostics(run.config, run.curation or [], run.samples_meta)
    return RunGroups(*found) if found is not None else None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def group_table_html(groups: RunGroups | None, label: str = "", table_id: str = "groups") -> str:
    """The per-group table: samples, kept share, the group's share of each bin, training passes vs the baseline;
    ``label`` (``": srd_stratified"``) names the arms whose curation it is when the run has several."""
    if groups is None:
        return ""
    diag = groups.diagnostics
    n_bins = len(diag.total.bin_shares)
    headers = [
        "group",
        "samples",
        "kept",
        *(f"bin {b + 1}" for b in range(n_bins)),
        "SRD passes",
        "baseline passes",
        "SRD / baseline",
    ]
    rows = []
    for g in [*diag.groups, diag.total]:
        bins = [f"n={c}" for c in g.bin_counts] if g is diag.total else [_pct(s) for s in g.bin_shares]
        cells = [
            str(g.samples),
            _pct(g.kept_share),
            *bins,
            f"{g.srd_passes:.0f}",
            f"{g.baseline_passes:.0f}",
            _pct(g.relative_passes),
        ]
        name = f"<b>{html.escape(g.group)}</b>" if g is diag.total else html.escape(g.group)
        rows.append(f"<tr><td>{name}</td>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    return (
        f"<h3>Curation per group{html.escape(label)} ({html.escape(groups.source)})</h3>"
        "<p class=\"sub\">kept: share of the group's samples kept; bin b: the group's share of bin b (compare "
        "with its share of all samples); passes: samples × epochs over SRD's stages and the baseline's.</p>"
        f'<div style="overflow-x:auto"><table id="{html.escape(table_id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def plot_groups(groups: RunGroups | None) -> Figure | None:
    """Left: each group's kept share and SRD's passes relative to the baseline; right: what each bin holds."""
    if groups is None:
        return None

    diag = groups.diagnostics
    names = [g.group for g in diag.groups]
    fig = Figure(figsize=(WIDE, 4.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    x = list(range(len(names)))
    width = 0.38
    left.bar(
        [i - width / 2 for i in x],
        [100 * g.kept_share for g in diag.groups],
        width,
        label="kept share",
        color="tab:blue",
    )
    left.bar(
        [i + width / 2 for i in x],
        [100 * (g.relative_passes or 0.0) for g in diag.groups],
        width,
        label="SRD's passes / baseline's",
        color="tab:orange",
    )
    left.axhline(
        100 * diag.total.kept_share, color="tab:blue", linestyle="--", linewidth=1, label="kept share, all samples"
    )
    if diag.total.relative_passes is not None:
        left.axhline(
            100 * diag.total.relative_passes,
            color="tab:orange",
            linestyle=":",
            linewidth=1.2,
            label="passes ratio, all samples",
        )
    left.set_xticks(x, names, rotation=30 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center")
    left.set_xlabel("group")
    left.set_ylabel("% of the group")
    left.set_title("Kept share and training passes per group")
    left.grid(True, axis="y", alpha=0.3)
    top = max([100 * g.kept_share for g in diag.groups] + [100 * (g.relative_passes or 0.0) for g in diag.groups])
    left.set_ylim(0, top * 1.35 + 1)
    left.legend(fontsize=8, loc="upper left", ncols=2)

    n_bins = len(diag.total.bin_shares)
    population = [g.samples / diag.total.samples for g in diag.groups]
    columns = ["all samples", *(f"bin {b + 1}" for b in range(n_bins))]
    bottom = [0.0] * len(columns)

    cmap = colormaps["Set2"]
    for k, g in enumerate(diag.groups):
        heights = [100 * population[k], *(100 * s for s in g.bin_shares)]
        right.bar(columns, heights, bottom=bottom, color=cmap(k % 8), label=g.group, edgecolor="white", linewidth=0.5)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    right.set_xlabel("all training samples, then each bin")
    right.set_ylabel("share of the column (%)")
    right.set_title("What each curriculum bin holds (easy → hard)")
    right.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig
