"""The report page: inline CSS, tables of the summary, figures as data: URIs; every text is escaped."""

from __future__ import annotations

import base64
import html
import statistics
import struct
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from srd_core.evaluation.rows import MODEL_ALIASES, score_of
from srd_core.models.flops import format_flops
from srd_core.report import plots
from srd_core.report.comparison import Comparison
from srd_core.report.data import RunArtifacts, arm_title
from srd_core.report.groups import group_table_html, run_groups
from srd_core.report.summary import (
    MODEL_NAMES,
    MODEL_ORDER,
    NOT_AVAILABLE,
    CurationSummary,
    MethodSummary,
    Summary,
    fmt_points,
    summarize_curation,
)
from srd_core.rundir import CURATION_FILE
from srd_core.timings import PARALLEL_KEY, wall_total

if TYPE_CHECKING:
    from srd_core.report.contents import PlotSpec, Report


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;background:#f6f7f9;
color:#1d2330;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:28px 32px 48px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:34px 0 10px;border-bottom:2px solid #dde1e7;
padding-bottom:4px}h3{font-size:16px;margin:18px 0 6px}
.sub{color:#5b6475;font-size:13px;margin-bottom:18px;overflow-wrap:anywhere}
.verdict{background:#fff;border-left:6px solid #2f6fdb;padding:4px 18px;font-size:15px;border-radius:4px;
box-shadow:0 1px 3px rgba(0,0,0,.08);overflow-wrap:anywhere}
.verdict p{margin:10px 0}.verdict p.headline{font-size:18px}
.verdict.winner-baseline{border-color:#e07b00}.verdict.winner-tie,.verdict.winner-none{border-color:#8a93a3}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(460px,100%),1fr));gap:28px;align-items:start}
.grid>div{min-width:0}.grid table{width:100%}
.scroll{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;background:#fff;font-size:14px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
th,td{padding:6px 12px;border-bottom:1px solid #e4e7ec;text-align:right}
th:first-child,td:first-child{text-align:left}
td{white-space:nowrap}th,td:first-child{white-space:normal;overflow-wrap:break-word}
thead th{background:#eef1f5;font-weight:600}
td.na{color:#9aa1ad;font-style:italic}
figure{margin:0;background:#fff;padding:12px;border-radius:4px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{font-size:13px;color:#4a5262;margin-top:6px}
p.na{color:#7a8190;font-style:italic;background:#fff;padding:10px 14px;border-radius:4px}
p.note{font-size:13px;color:#9a4a00;margin:6px 0}
ul.notes{font-size:13px;color:#5b6475;overflow-wrap:anywhere}ul.warnings{color:#9a4a00;overflow-wrap:anywhere}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: Any, fmt: Callable[[Any], str] = str, cell_id: str | None = None) -> str:
    attr = f' id="{_esc(cell_id)}"' if cell_id else ""
    if value is None:
        return f'<td class="na"{attr}>{NOT_AVAILABLE}</td>'
    return f"<td{attr}>{_esc(fmt(value))}</td>"


def _table(headers: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _seconds(value: float) -> str:
    """Seconds as "21.5 s", "2 min 05 s" or "1 h 02 min"."""
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _scores_table(summary: Summary) -> str:
    order = ["teacher", "student_init", *summary.arms]
    names = [m for m in order if m in summary.scores] + sorted(set(summary.scores) - set(order))
    rows = []
    for name in names:
        row = summary.scores[name]
        rows.append(
            f"<tr><td>{_esc(MODEL_NAMES.get(name, name))}</td>"
            + _cell(score_of(row), fmt_points, f"score-{name}")
            + _cell(row.get("sd"), lambda v: f"{v:.2f}")
            + _cell(row.get("n"))
            + _cell(row.get("protocol"))
            + "</tr>"
        )
    for name in order:
        if name not in summary.scores:
            rows.append(
                f'<tr><td>{_esc(MODEL_NAMES.get(name, name))}</td><td class="na" colspan="4" id="score-{name}">'
                f"{NOT_AVAILABLE}</td></tr>"
            )
    return _table(["model", "ROUGE-L (×100)", "sd", "eval samples", "protocol"], rows)


def _header(arm: str) -> str:
    return {"srd": "SRD", "baseline": "plain KD baseline"}.get(arm, arm)


def _subtitle(arms: list[str]) -> str:
    return "SRD vs plain KD" if arms == ["srd", "baseline"] else " vs ".join(arm_title(a) for a in arms)


def _budget_table(summary: Summary) -> str:
    arms = summary.arms
    methods = {m: summary.methods.get(m) or MethodSummary() for m in arms}
    lines: list[tuple[str, str, Callable[[Any], str]]] = [
        ("final ROUGE-L", "final", fmt_points),
        ("best ROUGE-L while training", "best_eval", fmt_points),
        ("optimizer steps", "steps", lambda v: f"{int(v):,}"),
        ("response tokens trained", "response_tokens", lambda v: f"{int(v):,}"),
        ("all tokens (prompt + response)", "tokens", lambda v: f"{int(v):,}"),
        ("training wall time", "train_seconds", _seconds),
        ("phase time incl. evals", "phase_seconds", _seconds),
        ("mean tokens/s (all tokens)", "tokens_per_s", lambda v: f"{v:,.0f}"),
        ("training compute (FLOPs)", "flops", format_flops),
    ]
    rows = []
    for label, attr, fmt in lines:
        cells = "".join(_cell(getattr(methods[m], attr), fmt, f"{attr}-{m}") for m in arms)
        rows.append(f"<tr><td>{_esc(label)}</td>{cells}</tr>")
    if any(methods[m].generated_share is not None for m in arms):  # train.responses generated some batches
        for label, attr, fmt in (
            ("steps on responses generated then", "generated_share", _percent),
            ("steps on replayed student responses", "replayed_share", _percent),
            ("student generation time", "generation_seconds", _seconds),
        ):
            cells = "".join(_cell(getattr(methods[m], attr), fmt, f"{attr}-{m}") for m in arms)
            rows.append(f"<tr><td>{_esc(label)}</td>{cells}</tr>")
    curated = {a for pair in summary.pairs for a in pair[:1]}
    for label, value, fmt, cell_id in (
        ("reflection pass (curated arms)", summary.reflection_seconds, _seconds, "reflect-time"),
        ("reflection compute (curated arms)", summary.reflection_flops, format_flops, "reflect-flops"),
    ):
        cells = "".join(
            _cell(value, fmt, cell_id if i == 0 else None) if m in curated else _cell("—")
            for i, m in enumerate(a for a in arms)
        )
        rows.append(f"<tr><td>{_esc(label)}</td>{cells}</tr>")
    return _table(["", *(_header(a) for a in arms)], rows)


def _comparison_table(c: Comparison | None) -> str:
    """The paper's view of one pair: final scores, the reference at the curriculum arm's step count, and the
    curriculum arm's time to quality in wall time and in compute."""
    if c is None:
        return (
            f'<p class="na" id="comparison">Equal-steps view and time to quality {NOT_AVAILABLE}: both arms '
            "need evaluations during training (train.eval_every).</p>"
        )
    first = (c.arm, c.reference) == ("srd", "baseline")
    key = "" if first else f"-{c.arm}-{c.reference}"
    one, other = _header(c.arm), _header(c.reference)
    reached = c.srd_reached
    ttq = (
        f"step {reached.step}, {_seconds(reached.wall_time)} incl. {_seconds(c.overhead_seconds)} reflection + "
        f"curation" + (f"; {format_flops(reached.flops)}" if reached.flops is not None else "")
        if reached is not None
        else "never"
    )
    reference_took = _seconds(c.baseline_seconds) if c.baseline_seconds is not None else None
    if reference_took is not None and c.baseline_flops is not None:
        reference_took += f", {format_flops(c.baseline_flops)}"
    rows = [
        f"<tr><td>final ROUGE-L</td>{_cell(c.srd_final, fmt_points, f'cmp-final-srd{key}')}"
        f"{_cell(c.baseline_final, fmt_points, f'cmp-final-baseline{key}')}</tr>",
        f"<tr><td>optimizer steps</td>{_cell(c.srd_steps, str)}{_cell(c.baseline_steps, str)}</tr>",
        f"<tr><td>training compute</td>{_cell(c.total_flops, format_flops, f'cmp-flops-srd{key}')}"
        f"{_cell(c.baseline_flops, format_flops, f'cmp-flops-baseline{key}')}</tr>",
        f"<tr><td>evaluations on the curve</td>{_cell(c.srd_points, str)}{_cell(c.baseline_points, str)}</tr>",
        f"<tr><td>ROUGE-L at {_esc(one)}'s step count (equal steps)</td>{_cell(c.srd_final, fmt_points)}"
        f"{_cell(c.baseline_at_srd_steps, fmt_points, f'cmp-equal-steps{key}')}</tr>",
        f"<tr><td>first reached {_esc(other)}'s final score</td>"
        f'<td id="cmp-ttq{key}">{_esc(ttq)}</td>' + f"{_cell(reference_took, lambda v: f'{v} (its final)')}</tr>",
    ]
    return _table(["", one, other], rows)


def _comparison_tables(summary: Summary) -> str:
    """One comparison table per (curriculum arm, reference arm) pair, each under its heading."""
    if not summary.comparisons:
        return "<h3>SRD vs plain KD: equal steps and time to quality</h3>" + _comparison_table(None)
    return "".join(
        f"<h3>{_esc(arm_title(c.arm))} vs {_esc(arm_title(c.reference))}: equal steps and time to "
        f"quality</h3>{_comparison_table(c)}"
        for c in summary.comparisons
    )


def _curation_table(cur: CurationSummary | None, suffix: str = "") -> str:
    if cur is None:
        return f'<p class="na">Curation summary {NOT_AVAILABLE}: no curation.jsonl.</p>'
    rows: list[tuple[str, Any, Callable[[Any], str], str]] = [
        ("training samples", cur.total, str, "cur-total"),
        ("kept", cur.kept, str, "cur-kept"),
        ("dropped", cur.dropped, str, "cur-dropped"),
        ("bin sizes (easy → hard)", ", ".join(map(str, cur.bin_sizes)) or None, str, "cur-bins"),
        ("noisy samples", cur.noisy_total, str, "noisy-total"),
        ("noisy share among dropped", cur.noisy_share_dropped, _percent, "noisy-share-dropped"),
        ("noisy share among kept", cur.noisy_share_kept, _percent, "noisy-share-kept"),
        ("noisy share overall", cur.noisy_share_all, _percent, "noisy-share-all"),
        ("share of noisy samples dropped", cur.noisy_dropped_recall, _percent, "noisy-dropped-recall"),
    ]
    body = [f"<tr><td>{_esc(label)}</td>{_cell(v, fmt, cid + suffix)}</tr>" for label, v, fmt, cid in rows]
    remainder = ""
    if cur.remainder:
        remainder = (
            f'<p class="note" id="cur-remainder{_esc(suffix)}">'
            f"{_esc(cur.remainder[0].upper() + cur.remainder[1:])}.</p>"
        )
    return _table(["curation", ""], body) + remainder


def _curation_label(run: RunArtifacts) -> str:
    """``: srd`` (the arms that train on curation.jsonl) when the run has several curations, else nothing."""
    return f": {', '.join(run.base_arms) or CURATION_FILE}" if run.views else ""


def _arm_curation_tables(run: RunArtifacts) -> str:
    """The curation table of each arm curated on its own (curation-<arm>/), side by side."""
    if not run.views:
        return ""
    cells = "".join(
        f"<div><h3>Curation: {_esc(', '.join(view.arms))}</h3>"
        f"{_curation_table(summarize_curation(view.run(run)), f'-{view.owner}')}</div>"
        for view in run.views
    )
    return f'<div class="grid">{cells}</div>'


def _family_table(cur: CurationSummary | None, scores: dict[str, dict[str, Any]], arms: list[str] | None = None) -> str:
    if cur is None or not cur.families:
        return ""
    order = ["teacher", "student_init", *(arms if arms is not None else MODEL_ORDER[2:])]
    models = [m for m in order if (scores.get(m) or {}).get("per_family")]
    headers = ["task family", "train samples", "kept share", "noisy", "noisy dropped"]
    headers += [f"{MODEL_NAMES.get(m, m)} ROUGE-L" for m in models]
    rows = []
    for fam in cur.families:
        cells = (
            _cell(fam["n"])
            + _cell(fam["kept"], _percent)
            + _cell(fam["noisy"])
            + _cell(fam["noisy_dropped"] if fam["noisy"] else "—")
        )
        cells += "".join(_cell(scores[m]["per_family"].get(fam["family"]), fmt_points) for m in models)
        rows.append(f"<tr><td>{_esc(fam['family'])}</td>{cells}</tr>")
    return "<h3>Per task family</h3>" + _table(headers, rows)


def _eval_sets_table(rows: list[dict[str, Any]] | None) -> str:
    """Models × evaluation sets (eval_sets.jsonl), with the mean over sets when a model has every set."""
    cells = {
        (MODEL_ALIASES.get(str(r.get("model")), str(r.get("model"))), str(r.get("set"))): r
        for r in rows or []
        if score_of(r) is not None
    }
    if not cells:
        return ""
    sets = list(dict.fromkeys(s for _, s in cells))
    found = list(dict.fromkeys(m for m, _ in cells))
    models = [m for m in MODEL_ORDER if m in found] + [m for m in found if m not in MODEL_ORDER]
    body = []
    for model in models:
        scores = [score_of(cells[(model, s)]) if (model, s) in cells else None for s in sets]
        known = [v for v in scores if v is not None]
        mean = statistics.fmean(known) if len(known) == len(scores) else None
        body.append(
            f"<tr><td>{_esc(MODEL_NAMES.get(model, model))}</td>"
            + "".join(_cell(v, fmt_points, f"set-{model}-{s}") for v, s in zip(scores, sets, strict=True))
            + _cell(mean, fmt_points, f"set-{model}-mean")
            + "</tr>"
        )
    return "<h3>Evaluation sets (ROUGE-L ×100)</h3>" + _table(["model", *sets, "mean"], body)


def _timings_table(
    timings: dict[str, float] | None, parallel_arms: bool = False, parallel: dict[str, Any] | None = None
) -> str:
    """Seconds per phase and the run's total, arms trained at once counted once (``srd_core.timings``)."""
    if not timings:
        return f'<p class="na">Phase timings {NOT_AVAILABLE}: no timings.json.</p>'
    rows = [
        f"<tr><td>{_esc(phase)}</td>{_cell(sec, _seconds, f'phase-{phase}')}</tr>" for phase, sec in timings.items()
    ]
    total, together = wall_total({**timings, PARALLEL_KEY: parallel}, parallel_arms)
    label = f"<b>total</b> (the {together} arms trained at once)" if together > 1 else "<b>total</b>"
    rows.append(f"<tr><td>{label}</td>{_cell(total, _seconds)}</tr>")
    return _table(["phase", "wall time"], rows)


def _png_css_width(png: bytes) -> int:
    """The CSS width that shows ``png`` at 100 px per inch of the figure (PNG header width ÷ dpi scale)."""
    pixels = struct.unpack(">I", png[16:20])[0]
    return round(pixels * 100 / plots.FIGURE_DPI)


def _figure_html(spec: PlotSpec, png: bytes | None) -> str:
    heading = f'<h2 id="plot-{_esc(spec.name)}">{_esc(spec.heading)}</h2>'
    if png is None:
        return f'{heading}<p class="na">{_esc(NOT_AVAILABLE.capitalize())}: {_esc(spec.missing)}.</p>'
    data = base64.b64encode(png).decode("ascii")
    return (
        f'{heading}<figure><img alt="{_esc(spec.heading)}" width="{_png_css_width(png)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{_esc(spec.caption)}</figcaption></figure>'
    )


def _warnings_html(warnings: list[str]) -> str:
    if not warnings:
        return ""
    items = "".join(f"<li>{_esc(w)}</li>" for w in warnings)
    return f'<h2>Warnings</h2><ul class="warnings" id="warnings">{items}</ul>'


def render_html(report: Report, pngs: dict[str, bytes | None]) -> str:
    """The self-contained report page: inline CSS, images as data: URIs, every text escaped."""
    s, run = report.summary, report.run
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    winner = report.verdict.winner or "none"
    parallel = bool(((run.config or {}).get("run") or {}).get("parallel_arms"))
    notes = list(run.notes)
    if run.samples_meta_source:
        notes.append(f"sample metadata (family, noise) from {run.samples_meta_source}")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(run.title)} — srd report</title><style>{CSS}</style></head><body><main>",
        f"<h1>{_esc(run.title)}</h1>",
        f'<div class="sub">{_esc(_subtitle(s.arms))} · run directory {_esc(run.run_dir)} · generated {generated}</div>',
        f'<div class="verdict winner-{_esc(winner)}" id="verdict"><p class="headline" id="verdict-headline">'
        f"<b>Verdict.</b> {_esc(report.verdict.headline)}</p>"
        + "".join(f"<p>{_esc(paragraph)}</p>" for paragraph in report.verdict.paragraphs or [report.verdict.text])
        + "</div>",
        _warnings_html(report.warnings),
        "<h2>Summary</h2>",
        '<div class="grid"><div><h3>Final evaluation</h3>',
        _scores_table(s),
        "</div>",
        "<div><h3>Training budget</h3>",
        _budget_table(s),
        "</div></div>",
        _comparison_tables(s),
        f'<div class="grid"><div><h3>Curation{_esc(_curation_label(run))}</h3>',
        _curation_table(s.curation),
        "</div>",
        "<div><h3>Phase timings</h3>",
        _timings_table(s.timings, parallel, run.parallel),
        "</div></div>",
        _arm_curation_tables(run),
        _eval_sets_table(run.eval_sets),
        _family_table(s.curation, s.scores, s.arms),
        group_table_html(run_groups(run), _curation_label(run)),
        *(
            group_table_html(run_groups(view.run(run)), f": {', '.join(view.arms)}", f"groups-{view.owner}")
            for view in run.views
        ),
    ]
    parts += [_figure_html(spec, pngs.get(spec.name)) for spec in report.specs]
    if notes:
        parts.append('<h2>Notes</h2><ul class="notes">' + "".join(f"<li>{_esc(n)}</li>" for n in notes) + "</ul>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)
