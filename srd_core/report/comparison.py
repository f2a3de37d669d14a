"""The paper's comparison of SRD and plain KD from a run's eval curves: equal steps and time-to-quality.

Every arm that trains on a curation is compared with every arm that does not (by default the one
pair SRD vs the baseline; with ``arms``, e.g. official and stratified SRD each against plain KD at
full budget and at equal compute).

Each arm trains its own budget (by default the baseline all data for E epochs, SRD 8/20·E epochs on
each cumulative stage, about 0.6× the steps). Besides both final scores the report reads the
baseline's curve at SRD's step count (the equal-steps view) and finds the first evaluation at which
SRD reached the baseline's final score, its wall time counted from the start of the reflection pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from srd_core.evaluation.curves import CurvePoint, Reached, curve_from_rows, first_reaching, score_at_step
from srd_core.evaluation.rows import score_of
from srd_core.models.flops import format_flops
from srd_core.report.data import RunArtifacts, arm_title


@dataclass
class Comparison:
    """A curriculum arm (``srd_*``: SRD by default) vs a reference arm (``baseline_*``: plain KD by default) on
    their eval curves (``None`` where an input is missing)."""

    srd_final: float | None
    baseline_final: float | None
    srd_steps: int | None
    baseline_steps: int | None
    srd_points: int
    baseline_points: int
    baseline_at_srd_steps: float | None
    """The reference arm's held-out score at the curriculum arm's final step count, read off its curve."""
    overhead_seconds: float
    """Reflection and curation seconds, added to the curriculum arm's training wall time."""
    srd_reached: Reached | None
    """The curriculum arm's first evaluation at or above the reference's final score (wall time and FLOPs include
    the overhead)."""
    baseline_seconds: float | None
    """The reference arm's training wall time up to its final score."""
    arm: str = "srd"
    reference: str = "baseline"
    overhead_flops: float | None = None
    """The reflection pass's FLOPs, added to the curriculum arm's training compute."""
    srd_flops: float | None = None
    """The curriculum arm's training FLOPs (its cached teacher's build included), without the overhead."""
    baseline_flops: float | None = None
    """The reference arm's training FLOPs (its cached teacher's build included) up to its final score."""

    @property
    def step_ratio(self) -> float | None:
        """The curriculum arm's optimizer steps as a share of the reference's."""
        if not self.srd_steps or not self.baseline_steps:
            return None
        return self.srd_steps / self.baseline_steps

    @property
    def names(self) -> tuple[str, str]:
        """How the text names the two arms."""
        return arm_title(self.arm), ("the baseline" if self.reference == "baseline" else arm_title(self.reference))

    @property
    def total_flops(self) -> float | None:
        """The curriculum arm's compute in all: training plus reflection."""
        return None if self.srd_flops is None else self.srd_flops + (self.overhead_flops or 0.0)


def _steps(run: RunArtifacts, arm: str, curve: list[CurvePoint]) -> int | None:
    done = run.train_summaries.get(arm) or {}
    if done.get("steps") is not None:
        return int(done["steps"])
    return curve[-1].step if curve else None


def _flops(run: RunArtifacts, arm: str, curve: list[CurvePoint]) -> float | None:
    """An arm's training compute: summary.json's (plus a cache build it read), else its curve's last point."""
    done = run.train_summaries.get(arm) or {}
    value = done.get("flops")
    if value is None:
        value = curve[-1].flops if curve else None
    return None if value is None else float(value) + float(done.get("teacher_cache_flops") or 0)


def compare_pair(run: RunArtifacts, arm: str, reference: str) -> Comparison | None:
    """The comparison of ``arm`` (trained on a curation) with ``reference``; ``None`` without both curves."""
    srd_curve, base_curve = curve_from_rows(run.evals.get(arm)), curve_from_rows(run.evals.get(reference))
    if not srd_curve or not base_curve:
        return None
    srd_final = score_of(run.final[arm]) if arm in run.final else srd_curve[-1].score
    base_final = score_of(run.final[reference]) if reference in run.final else base_curve[-1].score
    start = score_of(run.final["student_init"]) if "student_init" in run.final else None
    srd_steps, base_steps = _steps(run, arm, srd_curve), _steps(run, reference, base_curve)
    timings = run.timings or {}
    overhead = float(timings.get("reflect", 0.0)) + float(timings.get("curate", 0.0))
    cache = float((run.train_summaries.get(arm) or {}).get("teacher_cache_flops") or 0)
    overhead_flops = run.reflection_flops
    reached = None
    if base_final is not None:
        reached = first_reaching(srd_curve, base_final, overhead, (overhead_flops or 0.0) + cache)
    return Comparison(
        srd_final=srd_final,
        baseline_final=base_final,
        srd_steps=srd_steps,
        baseline_steps=base_steps,
        srd_points=len(srd_curve),
        baseline_points=len(base_curve),
        baseline_at_srd_steps=score_at_step(base_curve, srd_steps, start) if srd_steps is not None else None,
        overhead_seconds=overhead,
        srd_reached=reached,
        baseline_seconds=base_curve[-1].wall_time,
        arm=arm,
        reference=reference,
        overhead_flops=overhead_flops,
        srd_flops=_flops(run, arm, srd_curve),
        baseline_flops=_flops(run, reference, base_curve),
    )


def compare_all(run: RunArtifacts) -> list[Comparison]:
    """Every (curriculum arm, reference arm) pair that has both eval curves, in the run's arm order."""
    return [c for a, b in run.pairs() if (c := compare_pair(run, a, b)) is not None]


def compare_arms(run: RunArtifacts) -> Comparison | None:
    """The first comparison (SRD vs the baseline by default), or ``None`` when no pair has both curves."""
    found = compare_all(run)
    return found[0] if found else None


def equal_steps_sentence(c: Comparison) -> str | None:
    """The equal-steps view in one sentence."""
    if c.srd_final is None or c.baseline_at_srd_steps is None:
        return None
    one, other = c.names
    ratio = f" ({c.step_ratio:.2f}× {other}'s {c.baseline_steps})" if c.step_ratio else ""
    return (
        f"At equal steps: after {one}'s {c.srd_steps} optimizer steps{ratio} {one} scores {c.srd_final:.1f} and "
        f"{other}'s curve reads {c.baseline_at_srd_steps:.1f} ROUGE-L."
    )


def time_to_quality_sentence(c: Comparison) -> str | None:
    """When the curriculum arm first reached the reference's final score, reflection included, or that it never
    did; in wall time and in compute."""
    if c.baseline_final is None:
        return None
    one, other = c.names
    took = [f"{c.baseline_seconds:.0f} s"] if c.baseline_seconds is not None else []
    if c.baseline_flops is not None:
        took.append(format_flops(c.baseline_flops))
    base_time = f" ({other} took {' and '.join(took)} to train)" if took else ""
    if c.srd_reached is None:
        return (
            f"Time to quality: {one} never reached {other}'s final {c.baseline_final:.1f} ROUGE-L on its "
            f"{c.srd_points} evaluations{base_time}."
        )
    r = c.srd_reached
    compute = f" and {format_flops(r.flops)} of compute" if r.flops is not None else ""
    return (
        f"Time to quality: {one} first reached {other}'s final {c.baseline_final:.1f} ROUGE-L at step "
        f"{r.step}, {r.wall_time:.0f} s{compute} after the start of its reflection pass "
        f"({c.overhead_seconds:.0f} s of reflection and curation, then training){base_time}."
    )
