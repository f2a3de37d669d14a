"""The experiment as markdown tables (`srd experiment --table DIR`, for docs/results.md)."""

from __future__ import annotations

from typing import Any

from srd_core.experiment.stats import INTERVAL_METHOD, PairedDifference, Spread, variant_stats


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


def markdown_tables(rows: list[dict[str, Any]], reference: str | None = None) -> str:
    """One table per experiment: a row per variant (mean ± sd over seeds), then the verdicts."""
    stats = variant_stats(rows, reference)
    lines = [
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
            f"| {fmt_spread(c['srd_steps'], 0)} | {fmt_spread(c['noise_dropped_share'], 1, 100, ' %')} |")
    lines.append("")
    if any(v.vs_reference is not None for v in stats):
        lines += [f"| variant | SRD − SRD [{reference}] [95% CI] | verdict |", "|---|---|---|"]
        lines += [f"| {v.variant} | {fmt_difference(v.vs_reference)} | {v.vs_reference.verdict} |"
                  for v in stats if v.vs_reference is not None]
        lines.append("")
    lines += [f"- **{v.variant}**: {v.srd_vs_baseline.verdict}" for v in stats]
    wall = sum(r.get("wall_s") or 0.0 for r in rows)
    lines += ["", f"Intervals: {INTERVAL_METHOD}. Scores: ROUGE-L ×100 on the held-out set, mean ± sd over seeds. "
              f"Runs: {len(rows)}; sum of their phase times: {wall / 60:.1f} min.", ""]
    return "\n".join(lines)


def provenance(invocations: list[dict[str, Any]]) -> str:
    """One line: the machine, the wall time over every invocation that ran something, and the jobs."""
    if not invocations:
        return ""
    seconds = sum(float(i.get("seconds") or 0.0) for i in invocations)
    machines = sorted({str(i.get("machine")) for i in invocations if i.get("machine")})
    jobs = sorted({int(i["jobs"]) for i in invocations if i.get("jobs")})
    return (f"Machine: {'; '.join(machines) or 'unknown'}. Wall time: {seconds / 60:.1f} min over "
            f"{len(invocations)} invocation(s) (--jobs {'/'.join(map(str, jobs))}).\n")
