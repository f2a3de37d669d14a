"""The experiment's headline, one per variant: who won, by how much, how sure, at what compute.

Built from the rows' ``arms`` and ``pairs`` (every arm the runs train, whatever their number and names):
the best arm against the next best, then the best curated arm against each reference arm, each with its
paired difference over the seeds, the 95% t interval and the compute ratio (FLOPs, reflection included for
curated arms). Rows from before arms were data (no ``arms``) keep the SRD − plain KD verdict.
"""

from __future__ import annotations

from typing import Any

from srd_core.experiment.stats import (
    ArmSpread,
    PairedDifference,
    Spread,
    VariantStats,
    paired_difference,
    variant_stats,
)


def _score(s: Spread) -> str:
    return f"{s.mean:.1f}" + (f" ± {s.sd:.1f}" if s.sd is not None else "")


def _by(d: PairedDifference) -> str:
    """``9.71 points (95% CI 8.00 to 11.43)``: the size of the difference, whichever side won."""
    assert d.mean is not None  # a difference is described only once both arms have scores
    size = f"{abs(d.mean):.2f} points"
    if d.low is None or d.high is None:
        return f"{size} ({d.n} seed{'s' * (d.n != 1)}, no interval)"
    low, high = sorted((abs(d.low), abs(d.high)))
    return f"{size} (95% CI {low:.2f} to {high:.2f})"


def _level(d: PairedDifference) -> str:
    """``−2.89, 95% CI −5.97 to +0.19``: a difference whose interval holds 0."""
    if d.low is None:
        return f"{d.mean:+.2f}, no interval"
    return f"{d.mean:+.2f}, 95% CI {d.low:+.2f} to {d.high:+.2f}"


def compute_ratio(stats: VariantStats, members: list[dict[str, Any]], a: str, b: str) -> float | None:
    """``a``'s compute over ``b``'s: the pairs' ratio where the runs compare them, else the arms' mean FLOPs (a
    curated arm's with the reflection pass)."""
    for d, ratio in zip(stats.arm_pairs, stats.arm_pairs_compute, strict=True):
        if ratio.mean is not None and (d.a, d.b) in ((a, b), (b, a)):
            return ratio.mean if (d.a, d.b) == (a, b) else 1 / ratio.mean if ratio.mean else None

    def total(name: str) -> float | None:
        values = []
        for r in members:
            arm = (r.get("arms") or {}).get(name) or {}
            if arm.get("flops") is not None:
                values.append(
                    float(arm["flops"]) + (float(r.get("reflection_flops") or 0) if arm.get("curated") else 0.0)
                )
        return sum(values) / len(values) if values else None

    x, y = total(a), total(b)
    return x / y if x is not None and y else None


def _at(ratio: float | None, whose: str) -> str:
    return f" at {ratio:.2f}× {whose} compute" if ratio is not None else ""


def _against(stats: VariantStats, members: list[dict[str, Any]], arm: ArmSpread, ref: ArmSpread) -> str | None:
    d = next((d for d in stats.arm_pairs if (d.a, d.b) == (arm.name, ref.name)), None)
    if d is None:
        rows = [
            (
                r["seed"],
                (r.get("arms") or {}).get(arm.name, {}).get("final"),
                (r.get("arms") or {}).get(ref.name, {}).get("final"),
            )
            for r in members
        ]
        d = paired_difference(arm.name, ref.name, rows)
    if d.mean is None:
        return None
    at = _at(compute_ratio(stats, members, arm.name, ref.name), "its")
    if d.winner == arm.name:
        return f"beats {ref.name} by {_by(d)}{at}"
    if d.winner == ref.name:
        return f"trails {ref.name} by {_by(d)}{at}"
    return f"is not distinguishable from {ref.name} ({_level(d)}){at}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def headline(stats: VariantStats, members: list[dict[str, Any]]) -> tuple[str, str | None]:
    """The variant's headline sentence(s) and the arm it names the winner (``None``: no clear winner); the
    SRD − plain KD verdict for rows without ``arms``."""
    if not stats.arms:
        return stats.srd_vs_baseline.verdict, stats.srd_vs_baseline.winner
    n = len(stats.seeds)
    seeds = f"{n} seed{'s' * (n != 1)}"
    scored = sorted((a for a in stats.arms if a.score.mean is not None), key=lambda a: -(a.score.mean or 0.0))
    if not scored:
        return "No arm has a final score yet.", None
    top = scored[0]
    if len(scored) == 1:
        text = f"Only {top.name} trains in these runs: {_score(top.score)} ROUGE-L over {seeds}."
        return text + (f" {stats.vs_reference.verdict}" if stats.vs_reference is not None else ""), None
    runner = scored[1]
    rows = [
        (
            r["seed"],
            (r.get("arms") or {}).get(top.name, {}).get("final"),
            (r.get("arms") or {}).get(runner.name, {}).get("final"),
        )
        for r in members
    ]
    d = paired_difference(top.name, runner.name, rows)
    ratio = compute_ratio(stats, members, top.name, runner.name)
    compute = f", {top.name} at {ratio:.2f}× {runner.name}'s compute" if ratio is not None else ""
    if d.winner == top.name:
        first = (
            f"{top.name} wins: {_score(top.score)} ROUGE-L over {seeds}, {_by(d)} above the next best, "
            f"{runner.name} ({_score(runner.score)}){compute}."
        )
    else:
        first = (
            f"No clear winner with {seeds}: {top.name} ({_score(top.score)}) and {runner.name} "
            f"({_score(runner.score)}) are not distinguishable ({_level(d)}){compute}."
        )
    winner = top.name if d.winner == top.name else None
    curated = [a for a in scored if a.curated]
    references = [a for a in scored if not a.curated]
    if not curated or not references:
        return first, winner
    best = curated[0]
    said = {runner.name} if best is top else set()  # the first sentence compared them already
    parts = [p for ref in references if ref.name not in said and (p := _against(stats, members, best, ref))]
    if not parts:
        return first, winner
    if best is top:
        return f"{first} Against the other reference arms, {best.name} {_join(parts)}.", winner
    lead = "The best curated arm" if len(curated) > 1 else "The curated arm"
    return f"{first} {lead}, {best.name} ({_score(best.score)}), {_join(parts)}.", winner


def stats_with_headlines(rows: list[dict[str, Any]], reference: str | None = None) -> list[VariantStats]:
    """``variant_stats`` with each variant's headline and leader filled in."""
    out = variant_stats(rows, reference)
    for stats in out:
        stats.headline, stats.leader = headline(stats, [r for r in rows if r["variant"] == stats.variant])
    return out
