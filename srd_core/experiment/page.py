"""``experiment.html``: self-contained (inline CSS, figures as PNG data URIs), every text escaped."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from srd_core.experiment import plots
from srd_core.experiment.stats import INTERVAL_METHOD, PairedDifference, VariantStats
from srd_core.experiment.table import fmt_difference, fmt_spread
from srd_core.experiment.verdict import compute_ratio, stats_with_headlines

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;background:#f6f7f9;
color:#1d2330;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:28px 32px 48px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:34px 0 10px;border-bottom:2px solid #dde1e7;
padding-bottom:4px}
.sub{color:#5b6475;font-size:13px;margin-bottom:18px}
.verdict{background:#fff;border-left:6px solid #8a93a3;padding:10px 16px;margin:8px 0;border-radius:4px;
box-shadow:0 1px 3px rgba(0,0,0,.08)}.verdict.win{border-color:#1f9d55}
.verdict b{display:inline-block;min-width:140px}
table{border-collapse:collapse;background:#fff;font-size:13px;box-shadow:0 1px 3px rgba(0,0,0,.08);margin:6px 0}
th,td{padding:5px 10px;border-bottom:1px solid #e4e7ec;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}thead th{background:#eef1f5;font-weight:600}
td.na{color:#9aa1ad;font-style:italic}
td.wrap{white-space:normal;text-align:left;min-width:260px}
.scroll{overflow-x:auto}
figure{margin:14px 0;background:#fff;padding:12px;border-radius:4px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{font-size:13px;color:#4a5262;margin-top:6px}
code{background:#eef1f5;padding:1px 4px;border-radius:3px;font-size:12px}
p.na{color:#7a8190;font-style:italic}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return '<td class="na">—</td>'
    if isinstance(value, float):
        return f"<td>{value:,.{digits}f}</td>"
    return f"<td>{_esc(f'{value:,}' if isinstance(value, int) else value)}</td>"


def _figure(png: bytes | None, caption: str) -> str:
    if png is None:
        return f'<p class="na">{_esc(caption)}: not available yet.</p>'
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img alt="{_esc(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def _verdict(label: str, d: PairedDifference) -> str:
    cls = "verdict win" if d.winner else "verdict"
    return f'<div class="{cls}"><b>{_esc(label)}</b> {_esc(d.verdict)}</div>'


def _headline(v: VariantStats) -> str:
    """The variant's headline: who won, by how much, how sure, at what compute."""
    return f'<div class="{"verdict win" if v.leader else "verdict"}"><b>{_esc(v.variant)}</b> {_esc(v.headline)}</div>'


SCORE_COLUMNS: list[tuple[str, str, int, float]] = [
    ("teacher", "teacher", 1, 1.0),
    ("student_init", "initial student", 1, 1.0),
    ("srd", "SRD", 1, 1.0),
    ("baseline", "plain KD", 1, 1.0),
    ("baseline_at_srd_steps", "KD at SRD's steps", 1, 1.0),
]
BUDGET_COLUMNS: list[tuple[str, str, int, float]] = [
    ("time_to_quality_s", "time-to-quality s", 0, 1.0),
    ("srd_steps", "SRD steps", 0, 1.0),
    ("baseline_steps", "KD steps", 0, 1.0),
    ("srd_tokens", "SRD tokens", 0, 1.0),
    ("baseline_tokens", "KD tokens", 0, 1.0),
    ("reflection_s", "reflection s", 1, 1.0),
    ("wall_s", "run wall s", 0, 1.0),
    ("noise_dropped_share", "noisy % of dropped", 1, 100.0),
    ("noise_kept_share", "noisy % of kept", 1, 100.0),
    ("time_to_quality_flops", "time-to-quality GFLOP", 2, 1e-9),
    ("srd_flops", "SRD GFLOP", 2, 1e-9),
    ("baseline_flops", "KD GFLOP", 2, 1e-9),
]


def _variant_table(stats: list[VariantStats], columns: list[tuple[str, str, int, float]], scores: bool) -> str:
    head = "".join(f"<th>{_esc(label)}</th>" for _, label, _, _ in columns)
    lead = "<th>SRD − KD [95% CI]</th>" if scores else ""
    body = []
    for v in stats:
        cells = [fmt_spread(v.columns[key], digits, scale) for key, _, digits, scale in columns]
        if scores:
            cells.insert(0, fmt_difference(v.srd_vs_baseline))
        else:  # time-to-quality: on how many seeds SRD got there at all
            cells[0] += f" ({v.columns['time_to_quality_s'].n}/{len(v.seeds)} reached)"
        tds = "".join(f"<td>{_esc(c)}</td>" for c in cells)
        body.append(f"<tr><td>{_esc(v.variant)}</td><td>{len(v.seeds)}</td>{tds}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr><th>variant</th><th>seeds</th>{lead}{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


RUN_SCORE_COLUMNS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("teacher", "teacher", lambda v: _num(v)),
    ("student_init", "init. student", lambda v: _num(v)),
    ("srd", "SRD", lambda v: _num(v)),
    ("baseline", "plain KD", lambda v: _num(v)),
    ("diff", "SRD − KD", lambda v: _num(v, 2)),
    ("baseline_at_srd_steps", "KD at SRD steps", lambda v: _num(v)),
    ("time_to_quality_s", "TTQ s", lambda v: _num(v, 0)),
]
RUN_BUDGET_COLUMNS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("srd_steps", "SRD steps", _num),
    ("baseline_steps", "KD steps", _num),
    ("srd_tokens", "SRD tokens", _num),
    ("baseline_tokens", "KD tokens", _num),
    ("srd_train_s", "SRD train s", lambda v: _num(v, 0)),
    ("baseline_train_s", "KD train s", lambda v: _num(v, 0)),
    ("reflection_s", "reflect s", lambda v: _num(v, 1)),
    ("wall_s", "wall s", lambda v: _num(v, 0)),
    ("noisy_dropped", "noisy dropped", _num),
    ("dropped", "dropped", _num),
    ("srd_flops", "SRD GFLOP", lambda v: _num(v * 1e-9 if v is not None else None, 2)),
    ("baseline_flops", "KD GFLOP", lambda v: _num(v * 1e-9 if v is not None else None, 2)),
    ("time_to_quality_flops", "TTQ GFLOP", lambda v: _num(v * 1e-9 if v is not None else None, 2)),
]


def _arm_pairs_html(stats: list[VariantStats], rows: list[dict[str, Any]]) -> str:
    """Every arm, then every curated arm against every reference arm (runs with an ``arms`` list): quality, equal
    steps, compute and time-to-quality in FLOPs; and the curated arms against each other."""
    if not any(v.arms for v in stats):
        return ""
    arms = "".join(
        f"<tr><td>{_esc(v.variant)}</td><td>{_esc(a.name)}</td>"
        f"<td>{'curated' if a.curated else 'reference'}</td><td>{a.score.n}</td>"
        f"<td>{_esc(fmt_spread(a.score))}</td><td>{_esc(fmt_spread(a.steps, 0))}</td>"
        f"<td>{_esc(fmt_spread(a.flops, 2, 1e-9))}</td></tr>"
        for v in stats
        for a in v.arms
    )
    body = []
    for v in stats:
        for d, ratio, at, ttq in zip(
            v.arm_pairs, v.arm_pairs_compute, v.arm_pairs_at_steps, v.arm_pairs_ttq_flops, strict=True
        ):
            body.append(
                f"<tr><td>{_esc(v.variant)}</td><td>{_esc(d.a)} − {_esc(d.b)}</td>"
                f"<td>{_esc(fmt_difference(d))}</td><td>{_esc(fmt_spread(at))}</td>"
                f"<td>{_esc(fmt_spread(ratio, 2))}×</td>"
                f"<td>{_esc(fmt_spread(ttq, 2, 1e-9))} ({ttq.n}/{d.n or len(v.seeds)})</td>"
                f'<td class="wrap">{_esc(d.verdict)}</td></tr>'
            )
        members = [r for r in rows if r["variant"] == v.variant]
        for d in v.curated_pairs:
            curated_ratio = compute_ratio(v, members, d.a, d.b)
            body.append(
                f"<tr><td>{_esc(v.variant)}</td><td>{_esc(d.a)} − {_esc(d.b)}</td>"
                f'<td>{_esc(fmt_difference(d))}</td><td class="na">—</td>'
                f'<td>{"—" if curated_ratio is None else f"{curated_ratio:.2f}×"}</td><td class="na">—</td>'
                f'<td class="wrap">{_esc(d.verdict)}</td></tr>'
            )
    pairs = (
        (
            "<h2>Each curated arm against each reference arm</h2>"
            '<div class="scroll"><table><thead><tr><th>variant</th><th>pair</th><th>difference [95% CI]</th>'
            "<th>reference at the arm's steps</th><th>compute ratio</th><th>time-to-quality GFLOP (reached)</th>"
            f"<th>verdict</th></tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        )
        if body
        else ""
    )
    return (
        "<h2>Arms (mean ± sd over seeds)</h2>"
        '<div class="scroll"><table><thead><tr><th>variant</th><th>arm</th><th>kind</th><th>seeds</th>'
        "<th>ROUGE-L</th><th>steps</th><th>GFLOP (training)</th></tr></thead>"
        f"<tbody>{arms}</tbody></table></div>{pairs}"
    )


def _runs_table(rows: list[dict[str, Any]], columns, shared: bool) -> str:
    head = "".join(f"<th>{_esc(label)}</th>" for _, label, _ in columns) + ("<th>shared</th>" if shared else "")
    body = []
    for r in rows:
        cells = "".join(render(r.get(key)) for key, _, render in columns)
        if shared:
            cells += f"<td>{_esc(', '.join(r.get('shared') or []) or '—')}</td>"
        body.append(f"<tr><td>{_esc(r['variant'])}</td><td>{_esc(r['seed'])}</td>{cells}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr><th>variant</th><th>seed</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def render_page(rows: list[dict[str, Any]], info: dict[str, Any]) -> str:
    """The whole page from the rows of experiment.jsonl and the experiment's description."""
    reference = info.get("reference")
    stats = stats_with_headlines(rows, reference)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    variants = "".join(
        f"<li><code>{_esc(name)}</code>: {_esc(' '.join(sets) or '(the base config)')}</li>"
        for name, sets in (info.get("variants") or {}).items()
    )
    parts = [
        f"<h1>Experiment {_esc(info.get('name', ''))}</h1>",
        f'<div class="sub">{len(rows)} of {_esc(info.get("planned", len(rows)))} runs finished · seeds '
        f"{_esc(info.get('seeds'))} · from {_esc(info.get('source', ''))} · written {when}</div>",
        "<h2>Verdict</h2>",
        "".join(_headline(v) for v in stats) or '<p class="na">No finished run yet.</p>',
    ]
    parts.append(_arm_pairs_html(stats, rows))
    if any(v.vs_reference for v in stats):
        parts.append(f"<h2>Variants vs {_esc(reference)}</h2>")
        parts += [_verdict(v.variant, v.vs_reference) for v in stats if v.vs_reference]
    parts += [
        f'<p class="sub">Confidence intervals: {_esc(INTERVAL_METHOD)}. A winner is named only when the interval '
        "excludes 0. Scores are ROUGE-L ×100 on the held-out set.</p>",
        "<h2>Per variant (mean ± sd over seeds)</h2>",
        _variant_table(stats, SCORE_COLUMNS, scores=True),
        _variant_table(stats, BUDGET_COLUMNS, scores=False),
        _figure(plots.plot_scores(stats, rows), "Final ROUGE-L per variant, mean ± sd, dots are seeds"),
        _figure(
            plots.plot_differences(stats),
            ("Paired differences of the arms" if any(v.arms for v in stats) else "Paired SRD − plain KD")
            + " per seed with the mean's 95% t interval",
        ),
        "<h2>Eval curves</h2>",
        _figure(plots.plot_curves(stats, rows), "Held-out ROUGE-L during training, mean over seeds ± 1 sd"),
        _figure(
            plots.plot_curves(stats, rows, x="flops"),
            "The same curves against training compute (FLOPs, "
            "deterministic where wall time moves with machine load; SRD's include its reflection pass)",
        ),
        "<h2>Time-to-quality</h2>",
        _figure(
            plots.plot_time_to_quality(rows),
            "Seconds (reflection included) until SRD first reached plain KD's "
            "final score; grey: SRD's whole reflection + training time",
        ),
        "<h2>Runs</h2>",
        _runs_table(rows, RUN_SCORE_COLUMNS, shared=True),
        _runs_table(rows, RUN_BUDGET_COLUMNS, shared=False),
        f"<h2>Variants</h2><ul>{variants}</ul>",
    ]
    if info.get("overrides"):
        parts.append(f"<p>Every variant also sets <code>{_esc(' '.join(info['overrides']))}</code>.</p>")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_esc(info.get("name", ""))} '
        f"· srd experiment</title><style>{CSS}</style></head><body><main>{''.join(parts)}</main></body></html>\n"
    )
