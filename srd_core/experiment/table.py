"""The experiment as markdown tables (`srd experiment --table DIR`, for docs/results.md)."""

from __future__ import annotations

from typing import Any

from srd_core.experiment.stats import INTERVAL_METHOD, PairedDifference, Spread, VariantStats
from srd_core.experiment.verdict import compute_ratio, stats_with_headlines


def fmt_spread(s: Spread, digits: int = 1, scale: float = 1.0, suffix: str = "") -> str:
    """``mean ± sd`` (``—`` without values; no ``±`` with one value)."""
    if s.mean is None:
        return "—"
    text = f"{s.mean * scale:.{digits}f}"
    return (text + f" ± {s.sd * scale:.{digits}f}" if s.sd is not None else text) + suffix


def fmt_difference(d: PairedDifference) -> str:
    """``+1.2 [−0.3, +2.7]`` (mean and 95% interval)."""
    if d.mean is None:
        return "—"
    if d.low is None:
        return f"{d.mean:+.2f} (n = {d.n}, no interval)"
    return f"{d.mean:+.2f} [{d.low:+.2f}, {d.high:+.2f}]"


def _arms_tables(stats: list[VariantStats], rows: list[dict[str, Any]]) -> list[str]:
    """Every arm of every variant, then every comparison: each curated arm against each reference arm (and the
    curated arms against each other), with the paired difference, equal steps, compute and time-to-quality."""
    if not any(v.arms for v in stats):
        return []
    lines = ["| variant | arm | kind | seeds | ROUGE-L | steps | GFLOP (training) |", "|---|---|---|---|---|---|---|"]
    for v in stats:
        lines += [
            f"| {v.variant} | {a.name} | {'curated' if a.curated else 'reference'} | {a.score.n} "
            f"| {fmt_spread(a.score)} | {fmt_spread(a.steps, 0)} | {fmt_spread(a.flops, 2, 1e-9)} |"
            for a in v.arms
        ]
    lines.append("")
    comparisons = []
    for v in stats:
        members = [r for r in rows if r["variant"] == v.variant]
        for d, ratio, at, ttq in zip(
            v.arm_pairs, v.arm_pairs_compute, v.arm_pairs_at_steps, v.arm_pairs_ttq_flops, strict=True
        ):
            reached = f"{fmt_spread(ttq, 2, 1e-9)} ({ttq.n}/{d.n or len(v.seeds)} reached)"
            comparisons.append(
                f"| {v.variant} | {d.a} − {d.b} | {fmt_difference(d)} | {fmt_spread(at)} "
                f"| {fmt_spread(ratio, 2, suffix='×')} | {reached} | {d.verdict} |"
            )
        for d in v.curated_pairs:
            curated_ratio = compute_ratio(v, members, d.a, d.b)
            comparisons.append(
                f"| {v.variant} | {d.a} − {d.b} | {fmt_difference(d)} | — "
                f"| {'—' if curated_ratio is None else f'{curated_ratio:.2f}×'} | — | {d.verdict} |"
            )
    if comparisons:
        lines += [
            "| variant | comparison | difference [95% CI] | reference at the arm's steps "
            "| compute ratio | time-to-quality (GFLOP) | verdict |",
            "|---|---|---|---|---|---|---|",
            *comparisons,
            "",
        ]
    return lines


def markdown_tables(rows: list[dict[str, Any]], reference: str | None = None) -> str:
    """The experiment as markdown: each variant's headline first (who won, by how much, how sure, at what
    compute), every arm and every comparison of arms, then a row per variant (mean ± sd over seeds) of SRD
    and plain KD, and each variant against the reference variant."""
    stats = stats_with_headlines(rows, reference)
    lines = [f"- **{v.variant}**: {v.headline}" for v in stats]
    lines += ["", *_arms_tables(stats, rows)] if stats else []
    lines += [
        "| variant | seeds | SRD | plain KD | SRD − KD [95% CI] | KD at SRD's steps | time-to-quality (s) "
        "| SRD steps | noisy share of dropped |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v in stats:
        c = v.columns
        lines.append(
            f"| {v.variant} | {len(v.seeds)} | {fmt_spread(c['srd'])} | {fmt_spread(c['baseline'])} "
            f"| {fmt_difference(v.srd_vs_baseline)} | {fmt_spread(c['baseline_at_srd_steps'])} "
            f"| {fmt_spread(c['time_to_quality_s'], 0)} ({c['time_to_quality_s'].n}/{len(v.seeds)} reached) "
            f"| {fmt_spread(c['srd_steps'], 0)} | {fmt_spread(c['noise_dropped_share'], 1, 100, ' %')} |"
        )
    lines.append("")
    if any(v.vs_reference is not None for v in stats):
        lines += [f"| variant | SRD − SRD [{reference}] [95% CI] | verdict |", "|---|---|---|"]
        lines += [
            f"| {v.variant} | {fmt_difference(v.vs_reference)} | {v.vs_reference.verdict} |"
            for v in stats
            if v.vs_reference is not None
        ]
        lines.append("")
    if any(v.arms for v in stats):  # the headlines above are about every arm; this one about srd and baseline
        lines += [
            f"- **{v.variant}**, srd − baseline: {v.srd_vs_baseline.verdict}" for v in stats if v.srd_vs_baseline.n
        ]
    wall = sum(r.get("wall_s") or 0.0 for r in rows)
    lines += [
        "",
        f"Intervals: {INTERVAL_METHOD}. Scores: ROUGE-L ×100 on the held-out set, mean ± sd over seeds. "
        f"Runs: {len(rows)}; sum of their phase times: {wall / 60:.1f} min.",
        "",
    ]
    return "\n".join(lines)


def provenance(invocations: list[dict[str, Any]]) -> str:
    """One line: the machine, the wall time over every invocation that ran something, and the jobs."""
    if not invocations:
        return ""
    seconds = sum(float(i.get("seconds") or 0.0) for i in invocations)
    machines = sorted({str(i.get("machine")) for i in invocations if i.get("machine")})
    jobs = sorted({int(i["jobs"]) for i in invocations if i.get("jobs")})
    return (
        f"Machine: {'; '.join(machines) or 'unknown'}. Wall time: {seconds / 60:.1f} min over "
        f"{len(invocations)} invocation(s) (--jobs {'/'.join(map(str, jobs))}).\n"
    )
