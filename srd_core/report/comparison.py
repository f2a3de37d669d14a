"""The paper's comparison of SRD and plain KD from a run's eval curves: equal steps and time-to-quality.

Each arm trains its own budget (by default the baseline all data for E epochs, SRD 8/20·E epochs on
each cumulative stage, about 0.6× the steps). Besides both final scores the report reads the
baseline's curve at SRD's step count (the equal-steps view) and finds the first evaluation at which
SRD reached the baseline's final score, its wall time counted from the start of the reflection pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from srd_core.evaluation.rows import score_of
from srd_core.report.curves import CurvePoint, Reached, curve_from_rows, first_reaching, score_at_step
from srd_core.report.data import RunArtifacts


@dataclass
class Comparison:
    """SRD vs the baseline on their eval curves (``None`` where an input is missing)."""

    srd_final: float | None
    baseline_final: float | None
    srd_steps: int | None
    baseline_steps: int | None
    srd_points: int
    baseline_points: int
    baseline_at_srd_steps: float | None
    """The baseline's held-out score at SRD's final step count, read off its curve."""
    overhead_seconds: float
    """Reflection and curation seconds, added to SRD's training wall time."""
    srd_reached: Reached | None
    """SRD's first evaluation at or above the baseline's final score (wall time includes the overhead)."""
    baseline_seconds: float | None
    """The baseline's training wall time up to its final score."""

    @property
    def step_ratio(self) -> float | None:
        """SRD's optimizer steps as a share of the baseline's."""
        if not self.srd_steps or not self.baseline_steps:
            return None
        return self.srd_steps / self.baseline_steps


def _steps(run: RunArtifacts, arm: str, curve: list[CurvePoint]) -> int | None:
    done = run.train_summaries.get(arm) or {}
    if done.get("steps") is not None:
        return int(done["steps"])
    return curve[-1].step if curve else None


def compare_arms(run: RunArtifacts) -> Comparison | None:
    """The comparison of the two arms, or ``None`` when either arm left no eval curve."""
    srd_curve, base_curve = curve_from_rows(run.evals.get("srd")), curve_from_rows(run.evals.get("baseline"))
    if not srd_curve or not base_curve:
        return None
    srd_final = score_of(run.final["srd"]) if "srd" in run.final else srd_curve[-1].score
    base_final = score_of(run.final["baseline"]) if "baseline" in run.final else base_curve[-1].score
    start = score_of(run.final["student_init"]) if "student_init" in run.final else None
    srd_steps, base_steps = _steps(run, "srd", srd_curve), _steps(run, "baseline", base_curve)
    timings = run.timings or {}
    overhead = float(timings.get("reflect", 0.0)) + float(timings.get("curate", 0.0))
    return Comparison(
        srd_final=srd_final, baseline_final=base_final, srd_steps=srd_steps, baseline_steps=base_steps,
        srd_points=len(srd_curve), baseline_points=len(base_curve),
        baseline_at_srd_steps=score_at_step(base_curve, srd_steps, start) if srd_steps is not None else None,
        overhead_seconds=overhead,
        srd_reached=first_reaching(srd_curve, base_final, overhead) if base_final is not None else None,
        baseline_seconds=base_curve[-1].wall_time,
    )


def equal_steps_sentence(c: Comparison) -> str | None:
    """The equal-steps view in one sentence."""
    if c.srd_final is None or c.baseline_at_srd_steps is None:
        return None
    ratio = f" ({c.step_ratio:.2f}× the baseline's {c.baseline_steps})" if c.step_ratio else ""
    return (f"At equal steps: after SRD's {c.srd_steps} optimizer steps{ratio} SRD scores {c.srd_final:.1f} and "
            f"the baseline's curve reads {c.baseline_at_srd_steps:.1f} ROUGE-L.")


def time_to_quality_sentence(c: Comparison) -> str | None:
    """When SRD first reached the baseline's final score, reflection included, or that it never did."""
    if c.baseline_final is None:
        return None
    base_time = f" (the baseline took {c.baseline_seconds:.0f} s to train)" if c.baseline_seconds is not None else ""
    if c.srd_reached is None:
        return (f"Time to quality: SRD never reached the baseline's final {c.baseline_final:.1f} ROUGE-L on its "
                f"{c.srd_points} evaluations{base_time}.")
    r = c.srd_reached
    return (f"Time to quality: SRD first reached the baseline's final {c.baseline_final:.1f} ROUGE-L at step "
            f"{r.step}, {r.wall_time:.0f} s after the start of its reflection pass ({c.overhead_seconds:.0f} s of "
            f"reflection and curation, then training){base_time}.")
