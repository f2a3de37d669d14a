"""Mean ± sd per variant, paired differences over seeds with a 95% Student-t interval, and the verdict."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

CONFIDENCE = 0.95
INTERVAL_METHOD = "Student's t interval over the paired seeds (scipy.stats.t), 95%"


@dataclass
class Spread:
    """Mean and sample standard deviation of a few values (``sd`` is ``None`` below two values)."""

    n: int
    mean: float | None
    sd: float | None


@dataclass
class PairedDifference:
    """``a − b`` over the seeds both have: mean, sd, the 95% t interval and the verdict."""

    a: str
    b: str
    seeds: list[int]
    diffs: list[float]
    mean: float | None
    sd: float | None
    low: float | None
    high: float | None
    p_value: float | None
    winner: str | None
    verdict: str

    @property
    def n(self) -> int:
        return len(self.diffs)


def spread(values: list[float | None]) -> Spread:
    """Mean ± sd of the values that are not ``None``."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return Spread(0, None, None)
    return Spread(len(present), statistics.fmean(present), statistics.stdev(present) if len(present) > 1 else None)


def t_interval(diffs: list[float], confidence: float = CONFIDENCE) -> tuple[float, float, float] | None:
    """``(low, high, two-sided p)`` of the mean of ``diffs`` under Student's t; ``None`` below two values or
    when every difference is the same (zero spread: the t interval is undefined)."""
    from scipy import stats  # deferred: scipy

    n = len(diffs)
    if n < 2:
        return None
    mean, sd = statistics.fmean(diffs), statistics.stdev(diffs)
    if sd == 0:
        return None
    sem = sd / math.sqrt(n)
    low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=sem)
    p = 2 * stats.t.sf(abs(mean / sem), n - 1)
    return float(low), float(high), float(p)


def paired_difference(a: str, b: str, pairs: list[tuple[int, float | None, float | None]]) -> PairedDifference:
    """``a − b`` over ``(seed, a_value, b_value)`` pairs; the winner is named only if the interval excludes 0."""
    kept = [(seed, x - y) for seed, x, y in pairs if x is not None and y is not None]
    seeds, diffs = [s for s, _ in kept], [d for _, d in kept]
    n = len(diffs)
    seeds_text = f"{n} seed{'s' if n != 1 else ''}"
    if not diffs:
        return PairedDifference(
            a, b, [], [], None, None, None, None, None, None, f"No comparison: no seed has scores of both {a} and {b}."
        )
    mean = statistics.fmean(diffs)
    sd = statistics.stdev(diffs) if n > 1 else None
    interval = t_interval(diffs)
    if interval is None:
        why = (
            "one seed gives no interval"
            if n < 2
            else (
                "the difference is the same on every seed, so the t "
                "interval is undefined (too few or too coarse evaluations)"
            )
        )
        return PairedDifference(
            a,
            b,
            seeds,
            diffs,
            mean,
            sd,
            None,
            None,
            None,
            None,
            f"No significant difference with {seeds_text}: {a} − {b} = {mean:+.2f} ROUGE-L; {why}.",
        )
    low, high, p = interval
    ci = f"95% t interval [{low:+.2f}, {high:+.2f}], p = {p:.3g}"
    if low > 0 or high < 0:
        winner, loser = (a, b) if mean > 0 else (b, a)
        text = (
            f"{winner} beats {loser} by {abs(mean):.2f} ROUGE-L points on average over {seeds_text} ({a} − {b}: {ci})."
        )
    else:
        winner = None
        text = f"No significant difference with {seeds_text}: {a} − {b} = {mean:+.2f} ROUGE-L ({ci})."
    return PairedDifference(a, b, seeds, diffs, mean, sd, low, high, p, winner, text)


@dataclass
class VariantStats:
    """Everything the page and the table say about one variant."""

    variant: str
    seeds: list[int]
    columns: dict[str, Spread]
    srd_vs_baseline: PairedDifference
    vs_reference: PairedDifference | None = None
    arm_pairs: list[PairedDifference] = field(default_factory=list)
    """Each curated arm against each reference arm of the runs' ``pairs`` (quality), paired by seed."""
    arm_pairs_compute: list[Spread] = field(default_factory=list)
    """The same pairs' compute ratio (curated arm's FLOPs, reflection included, over the reference's)."""
    arm_pairs_at_steps: list[Spread] = field(default_factory=list)
    """The same pairs' reference score at the curated arm's step count (equal steps)."""
    arm_pairs_ttq_flops: list[Spread] = field(default_factory=list)
    """The same pairs' time-to-quality in FLOPs (the seeds where the curated arm reached the reference)."""
    arms: list[ArmSpread] = field(default_factory=list)
    """Every arm the runs list (``arms`` of the rows), in first-seen order."""
    curated_pairs: list[PairedDifference] = field(default_factory=list)
    """Each curated arm against each curated arm listed before it (e.g. stratified SRD − SRD)."""
    headline: str = ""
    """One sentence first: who won, by how much, how sure, at what compute (filled by
    ``srd_core.experiment.verdict.stats_with_headlines``)."""
    leader: str | None = None
    """The arm (or SRD / plain KD) the headline names the winner; ``None``: no clear winner."""


@dataclass
class ArmSpread:
    """One arm over a variant's seeds."""

    name: str
    curated: bool
    score: Spread
    steps: Spread
    flops: Spread


SPREAD_COLUMNS = (
    "teacher",
    "student_init",
    "srd",
    "baseline",
    "diff",
    "baseline_at_srd_steps",
    "time_to_quality_s",
    "srd_steps",
    "baseline_steps",
    "srd_tokens",
    "baseline_tokens",
    "wall_s",
    "reflection_s",
    "noise_dropped_share",
    "noise_kept_share",
    "time_to_quality_flops",
    "srd_flops",
    "baseline_flops",
)


def _final_pairs(members: list[dict[str, Any]], arm: str, ref: str) -> list[tuple[int, float | None, float | None]]:
    return [
        (r["seed"], (r.get("arms") or {}).get(arm, {}).get("final"), (r.get("arms") or {}).get(ref, {}).get("final"))
        for r in members
    ]


def _arm_pairs(stats: VariantStats, members: list[dict[str, Any]]) -> None:
    """Paired differences of every (curated arm, reference arm) the runs compare, in first-seen order, with their
    compute ratio, the reference at the arm's steps and the time-to-quality in FLOPs; and the curated arms
    against each other."""
    names = list(dict.fromkeys((p["arm"], p["reference"]) for r in members for p in r.get("pairs") or []))
    for arm, ref in names:
        stats.arm_pairs.append(paired_difference(arm, ref, _final_pairs(members, arm, ref)))
        found = [p for r in members for p in r.get("pairs") or [] if (p["arm"], p["reference"]) == (arm, ref)]
        stats.arm_pairs_compute.append(spread([p.get("compute_ratio") for p in found]))
        stats.arm_pairs_at_steps.append(spread([p.get("reference_at_arm_steps") for p in found]))
        stats.arm_pairs_ttq_flops.append(spread([p.get("time_to_quality_flops") for p in found]))
    listed = list(dict.fromkeys(name for r in members for name in r.get("arms") or {}))
    for name in listed:
        found = [(r.get("arms") or {}).get(name) or {} for r in members]
        stats.arms.append(
            ArmSpread(
                name,
                any(a.get("curated") for a in found),
                spread([a.get("final") for a in found]),
                spread([a.get("steps") for a in found]),
                spread([a.get("flops") for a in found]),
            )
        )
    curated = [a.name for a in stats.arms if a.curated]
    stats.curated_pairs = [
        paired_difference(b, a, _final_pairs(members, b, a)) for i, a in enumerate(curated) for b in curated[i + 1 :]
    ]


def variant_stats(rows: list[dict[str, Any]], reference: str | None = None) -> list[VariantStats]:
    """Per variant (in first-seen order): mean ± sd of every column, SRD − baseline, and vs the reference."""
    order = list(dict.fromkeys(r["variant"] for r in rows))
    by_variant = {v: sorted((r for r in rows if r["variant"] == v), key=lambda r: r["seed"]) for v in order}
    out = []
    for variant, members in by_variant.items():
        columns = {c: spread([r.get(c) for r in members]) for c in SPREAD_COLUMNS}
        pairs = [(r["seed"], r.get("srd"), r.get("baseline")) for r in members]
        stats = VariantStats(
            variant, [r["seed"] for r in members], columns, paired_difference("SRD", "plain KD", pairs)
        )
        _arm_pairs(stats, members)
        if reference is not None and variant != reference and reference in by_variant:
            ref = {r["seed"]: r.get("srd") for r in by_variant[reference]}
            ref_pairs = [(r["seed"], r.get("srd"), ref.get(r["seed"])) for r in members]
            stats.vs_reference = paired_difference(f"SRD [{variant}]", f"SRD [{reference}]", ref_pairs)
        out.append(stats)
    return out
