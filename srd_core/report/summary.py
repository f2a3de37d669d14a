"""The report's numbers and verdict, computed from a run's artifacts (never written in advance)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from srd_core.curation.remainder import remainder_notice
from srd_core.evaluation.rows import score_of
from srd_core.models.flops import format_flops
from srd_core.report.comparison import Comparison, compare_all, equal_steps_sentence, time_to_quality_sentence
from srd_core.report.data import ARM_TITLES, RunArtifacts, arm_title
from srd_core.report.warnings import MIN_EVAL_SAMPLES, eval_size

METHOD_NAMES = ARM_TITLES
MODEL_NAMES = {"teacher": "teacher", "student_init": "initial student", **METHOD_NAMES}
MODEL_ORDER = ("teacher", "student_init", "srd", "baseline")
TIE_POINTS = 0.5
"""Without a seed spread, a difference below this many ROUGE-L points is called a tie."""
MIN_TEACHER_GAP = 10.0
"""Below this teacher − initial-student gap (points) the verdict warns that little can be distilled."""
NOT_AVAILABLE = "not available"


@dataclass
class MethodSummary:
    """One training run (SRD or the baseline): its budget and its scores."""

    final: float | None = None
    sd: float | None = None
    steps: int | None = None
    tokens: int | None = None
    response_tokens: int | None = None
    train_seconds: float | None = None
    phase_seconds: float | None = None
    tokens_per_s: float | None = None
    best_eval: float | None = None
    best_eval_step: int | None = None
    generated_share: float | None = None
    """Share of steps whose KD responses the student generated at that step (``train.responses``)."""
    replayed_share: float | None = None
    """Share of steps that replayed stored student responses."""
    generation_seconds: float | None = None
    """Seconds the student spent generating responses during training."""
    flops: float | None = None
    """Training compute (``srd_core.models.flops``), a teacher cache's build it read included."""


@dataclass
class CurationSummary:
    """Counts of the curation, and where the noisy samples went (``None`` without sample metadata)."""

    total: int
    kept: int
    dropped: int
    bin_sizes: list[int]
    remainder: str | None = None
    """The kept samples no bin holds, in one sentence (``3 kept samples beyond 3 × 5 are not trained; ...``)."""
    noisy_total: int | None = None
    noisy_kept: int | None = None
    noisy_dropped: int | None = None
    families: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def _share(part: int | None, whole: int) -> float | None:
        return None if part is None or whole == 0 else part / whole

    @property
    def noisy_share_kept(self) -> float | None:
        return self._share(self.noisy_kept, self.kept)

    @property
    def noisy_share_dropped(self) -> float | None:
        return self._share(self.noisy_dropped, self.dropped)

    @property
    def noisy_share_all(self) -> float | None:
        return self._share(self.noisy_total, self.total)

    @property
    def noisy_dropped_recall(self) -> float | None:
        """The share of the noisy samples that the curation dropped."""
        return None if not self.noisy_total else self._share(self.noisy_dropped, self.noisy_total)


@dataclass
class Summary:
    """The numbers of the report's tables."""

    scores: dict[str, dict[str, Any]]
    methods: dict[str, MethodSummary | None]
    curation: CurationSummary | None
    reflection_seconds: float | None
    timings: dict[str, float] | None
    comparisons: list[Comparison] = field(default_factory=list)
    """Equal-steps view and time-to-quality of each (curriculum arm, reference arm) pair with both eval curves."""
    eval_n: int | None = None
    """Held-out samples the methods were scored on (the smallest if they differ)."""
    arms: list[str] = field(default_factory=lambda: ["srd", "baseline"])
    pairs: list[tuple[str, str]] = field(default_factory=lambda: [("srd", "baseline")])
    """(curriculum arm, reference arm) pairs the verdict compares."""
    reflection_flops: float | None = None

    @property
    def comparison(self) -> Comparison | None:
        """The first pair's comparison (SRD vs the baseline by default)."""
        return self.comparisons[0] if self.comparisons else None


@dataclass
class Verdict:
    """Who won (``"srd"``, ``"baseline"``, ``"tie"``, or ``None`` when there is nothing to compare) and why."""

    winner: str | None
    text: str
    headline: str = ""
    """One short sentence before ``text``: who won, by how much, how sure."""
    paragraphs: list[str] = field(default_factory=list)
    """``text`` cut where its subject changes: one paragraph per compared pair, then the notes on the teacher and
    on the noise (the report shows each as its own paragraph)."""


# --- summary ------------------------------------------------------------------------------------


def _last(rows: list[dict[str, Any]], key: str) -> Any:
    values = [r[key] for r in sorted(rows, key=lambda r: r.get("step") or 0) if r.get(key) is not None]
    return values[-1] if values else None


def summarize_method(run: RunArtifacts, method: str) -> MethodSummary | None:
    """Budget and scores of ``method``; ``None`` when it left no metrics, evals, summary or final score.

    The budget comes from ``<method>/summary.json`` (written when training finishes), else from the
    last row of ``<method>/metrics.jsonl`` (a run still training, or an older run).
    """
    metrics = run.metrics.get(method) or []
    evals = run.evals.get(method) or []
    final = run.final.get(method)
    done = run.train_summaries.get(method) or {}
    phase = (run.timings or {}).get(f"train_{method}")
    if not (metrics or evals or final or done or phase is not None):
        return None
    summary = MethodSummary(phase_seconds=phase)
    if final is not None:
        summary.final = score_of(final)
        summary.sd = final.get("sd")
    steps = [r["step"] for r in metrics if r.get("step") is not None]
    summary.steps = done.get("steps", int(max(steps)) if steps else None)
    for attr, key in (("tokens", "tokens"), ("response_tokens", "response_tokens"), ("train_seconds", "wall_time")):
        setattr(summary, attr, done.get(key, _last(metrics, key) if metrics else None))
    speeds = [float(r["tokens_per_s"]) for r in metrics if r.get("tokens_per_s") is not None]
    summary.tokens_per_s = statistics.fmean(speeds) if speeds else None
    scored = [(score, r.get("step")) for r in evals if (score := score_of(r)) is not None]
    if scored:
        summary.best_eval, summary.best_eval_step = max(scored, key=lambda p: p[0])
    if summary.train_seconds is None:
        summary.train_seconds = phase
    _response_sources(summary, done.get("responses"), metrics)
    flops = done.get("flops", _last(metrics, "flops") if metrics else None)
    if flops is not None:
        summary.flops = float(flops) + float(done.get("teacher_cache_flops") or 0)
    return summary


def _response_sources(summary: MethodSummary, totals: dict[str, Any] | None, metrics: list[dict[str, Any]]) -> None:
    """Where the KD responses came from: summary.json's totals, else the logged metrics rows."""
    if totals:
        steps = totals.get("steps") or {}
        count = sum(steps.values())
        if count:
            summary.generated_share = steps.get("generated", 0) / count
            summary.replayed_share = steps.get("replay", 0) / count
        summary.generation_seconds = totals.get("generation_seconds")
        return
    sources = [r["response_source"] for r in metrics if r.get("response_source")]
    if sources:
        summary.generated_share = sources.count("generated") / len(sources)
        summary.replayed_share = sources.count("replay") / len(sources)


def summarize_curation(run: RunArtifacts) -> CurationSummary | None:
    """Kept/dropped counts, bin sizes, and noisy shares when the samples' metadata is known."""
    if not run.curation:
        return None
    rows = run.curation
    kept = [r for r in rows if r.get("kept")]
    bins = sorted({int(r["bin"]) for r in kept if r.get("bin") is not None})
    summary = CurationSummary(
        total=len(rows),
        kept=len(kept),
        dropped=len(rows) - len(kept),
        bin_sizes=[sum(1 for r in kept if r.get("bin") == b) for b in bins],
    )
    pacer = ((run.config or {}).get("curriculum") or {}).get("pacer")
    summary.remainder = remainder_notice(summary.kept, summary.bin_sizes, pacer if isinstance(pacer, dict) else None)
    meta = run.samples_meta
    if meta and any("noisy" in m for m in meta.values()):
        noisy = {sid for sid, m in meta.items() if m.get("noisy")}
        summary.noisy_total = sum(1 for r in rows if r.get("id") in noisy)
        summary.noisy_kept = sum(1 for r in kept if r.get("id") in noisy)
        summary.noisy_dropped = summary.noisy_total - summary.noisy_kept
    if meta and any("family" in m for m in meta.values()):
        by_family: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            family = (meta.get(str(r.get("id"))) or {}).get("family")
            if family is not None:
                by_family.setdefault(str(family), []).append(r)
        for family, members in sorted(by_family.items()):
            noisy_members = [r for r in members if meta[str(r["id"])].get("noisy")]
            summary.families.append(
                {
                    "family": family,
                    "n": len(members),
                    "kept": sum(1 for r in members if r.get("kept")) / len(members),
                    "noisy": len(noisy_members),
                    "noisy_dropped": sum(1 for r in noisy_members if not r.get("kept")),
                }
            )
    return summary


def summarize(run: RunArtifacts) -> Summary:
    """Every number of the report, computed from the artifacts."""
    return Summary(
        scores={m: run.final[m] for m in run.final},
        methods={m: summarize_method(run, m) for m in run.arms},
        curation=summarize_curation(run),
        reflection_seconds=(run.timings or {}).get("reflect"),
        timings=run.timings,
        comparisons=compare_all(run),
        eval_n=eval_size(run),
        arms=list(run.arms),
        pairs=run.pairs(),
        reflection_flops=run.reflection_flops,
    )


# --- verdict ------------------------------------------------------------------------------------


def fmt_points(value: float) -> str:
    """A ROUGE-L ×100 score as shown everywhere in the report (one decimal)."""
    return f"{value:.1f}"


def _gap_closed(score: float, student: float, teacher: float) -> float | None:
    return None if teacher <= student else (score - student) / (teacher - student)


def _short(arm: str) -> str:
    return {"srd": "SRD", "baseline": "plain KD"}.get(arm, arm)


def _result_sentence(
    srd: MethodSummary, base: MethodSummary, names: tuple[str, str] = ("srd", "baseline")
) -> tuple[str, str]:
    assert srd.final is not None and base.final is not None  # the caller compares final scores only
    diff = srd.final - base.final
    spread = None
    if srd.sd and base.sd:
        spread = math.sqrt(srd.sd**2 + base.sd**2)
    scores = f"{_short(names[0])} {fmt_points(srd.final)} vs {_short(names[1])} {fmt_points(base.final)} ROUGE-L"
    if spread is not None and abs(diff) <= spread:
        return "tie", (
            f"Neither method clearly wins: {scores}, a {abs(diff):.1f}-point difference within the "
            f"seed-to-seed spread (±{spread:.1f})."
        )
    if spread is None and abs(diff) < TIE_POINTS:
        return "tie", f"The two methods tie: {scores} (difference {abs(diff):.1f} < {TIE_POINTS} points)."
    winner, loser = names if diff > 0 else names[::-1]
    caveat = "" if spread is not None else " (one evaluation pass, no seed spread to judge significance)"
    return winner, (
        f"{arm_title(winner)} wins: it beats {arm_title(loser)} by {abs(diff):.1f} ROUGE-L points ({scores}){caveat}."
    )


def _headline(srd: MethodSummary, base: MethodSummary, pair: tuple[str, str] = ("srd", "baseline")) -> str:
    """``Plain KD wins by 6.5 ROUGE-L points, beyond the seed spread of ±1.2.``: who, by how much, how sure."""
    assert srd.final is not None and base.final is not None  # the caller compares final scores only
    diff = srd.final - base.final
    spread = math.sqrt(srd.sd**2 + base.sd**2) if srd.sd and base.sd else None
    if spread is not None and abs(diff) <= spread:
        return f"A tie: {abs(diff):.1f} points apart, within the seed spread (±{spread:.1f})."
    if spread is None and abs(diff) < TIE_POINTS:
        return f"A tie: {abs(diff):.1f} points apart."
    winner = arm_title(pair[0] if diff > 0 else pair[1]).removesuffix(" (baseline)")
    sure = (
        f", beyond the seed spread of ±{spread:.1f}"
        if spread is not None
        else " on one evaluation pass; how sure is unknown (`srd experiment` gives an interval)"
    )
    return f"{winner[0].upper()}{winner[1:]} wins by {abs(diff):.1f} ROUGE-L points{sure}."


def _budget_sentence(
    srd: MethodSummary,
    base: MethodSummary,
    reflection_seconds: float | None,
    names: tuple[str, str] = ("srd", "baseline"),
    reflection_flops: float | None = None,
) -> str:
    one = _short(names[0]) if names[0] == "srd" else arm_title(names[0])
    other = "the baseline" if names[1] == "baseline" else arm_title(names[1])
    parts = []
    srd_tokens: int | None
    base_tokens: int | None
    if srd.steps is not None and base.steps is not None:
        if srd.steps == base.steps:
            parts.append(f"Both trained for {srd.steps} optimizer steps (the same budget)")
        else:
            parts.append(
                f"{one} trained {srd.steps} optimizer steps, {other} {base.steps} "
                f"({srd.steps / base.steps:.2f}× as many)"
                if base.steps
                else f"{one} trained {srd.steps} optimizer steps, {other} {base.steps}"
            )
    if srd.response_tokens and base.response_tokens:
        kind, srd_tokens, base_tokens = "response tokens", srd.response_tokens, base.response_tokens
    else:
        kind, srd_tokens, base_tokens = "tokens", srd.tokens, base.tokens
    if srd_tokens and base_tokens:
        parts.append(
            f"{one} trained on {srd_tokens:,} {kind}, {other} on {base_tokens:,} ({srd_tokens / base_tokens:.0%})"
        )
    if srd.flops and base.flops:
        total = srd.flops + (reflection_flops or 0.0)
        with_reflection = f" ({format_flops(total)} with the reflection pass)" if reflection_flops else ""
        parts.append(
            f"compute {format_flops(srd.flops)}{with_reflection} vs {format_flops(base.flops)} "
            f"({total / base.flops:.2f}×)"
        )
    if srd.train_seconds is not None and base.train_seconds is not None:
        timing = f"training took {srd.train_seconds:.0f} s vs {base.train_seconds:.0f} s"
        if reflection_seconds is not None:
            timing += (
                f"; with the {reflection_seconds:.0f} s reflection pass {one} cost "
                f"{srd.train_seconds + reflection_seconds:.0f} s in all"
            )
        parts.append(timing)
    return ("; ".join(parts) + ".") if parts else "The training budgets are not available."


def _teacher_sentence(summary: Summary) -> str | None:
    teacher, student = summary.scores.get("teacher"), summary.scores.get("student_init")
    if teacher is None or student is None:
        return None
    t, s = score_of(teacher), score_of(student)
    if t is None or s is None:  # a row without a ROUGE-L score: nothing to compare
        return None
    text = f"The teacher scores {fmt_points(t)} and the initial student {fmt_points(s)}"
    closed = []
    for method in summary.arms:
        m = summary.methods.get(method)
        gap = _gap_closed(m.final, s, t) if m and m.final is not None else None
        if gap is not None:
            closed.append(f"{arm_title(method)} {gap:.0%}")
    text += ("; share of that gap closed: " + ", ".join(closed)) if closed else ""
    text += "."
    if t <= s:
        text += " Caution: the teacher does not beat the initial student, so distillation has nothing to transfer."
    elif t - s < MIN_TEACHER_GAP:
        text += (
            f" Caution: the teacher is only {t - s:.1f} points above the initial student, so there is little "
            "for distillation to transfer."
        )
    return text


def _noise_sentence(cur: CurationSummary | None) -> str | None:
    if cur is None or cur.noisy_total is None or not cur.noisy_total or not cur.dropped or not cur.kept:
        return None
    a, b = cur.noisy_share_dropped, cur.noisy_share_kept
    if a is None or b is None:  # noisy_total without the kept/dropped counts
        return None
    judged = (
        "dropping the hardest samples removes noisy data preferentially"
        if a > b
        else "dropping the hardest samples did not remove noisy data preferentially"
    )
    return (
        f"Curation dropped {cur.noisy_dropped} of the {cur.noisy_total} noisy training samples "
        f"({cur.noisy_dropped_recall:.0%}); noisy samples make up {a:.1%} of the dropped vs {b:.1%} of the kept "
        f"samples: {judged}."
    )


def _pair_sentences(summary: Summary, pair: tuple[str, str]) -> tuple[str | None, list[str]]:
    """(winner, sentences) of one (curriculum arm, reference arm) pair."""
    a, b = pair
    srd, base = summary.methods.get(a), summary.methods.get(b)
    have_srd = srd is not None and srd.final is not None
    have_base = base is not None and base.final is not None
    sentences: list[str] = []
    winner: str | None = None

    def budget() -> str:
        assert srd is not None and base is not None  # called when both have a final score
        return _budget_sentence(srd, base, summary.reflection_seconds, pair, summary.reflection_flops)

    if have_srd and have_base and summary.eval_n is not None and summary.eval_n < MIN_EVAL_SAMPLES:
        assert srd is not None and srd.final is not None and base is not None and base.final is not None
        sentences += [
            f"The eval set has only {summary.eval_n} samples, too few to call a winner (at least "
            f"{MIN_EVAL_SAMPLES}): {_short(a)} {fmt_points(srd.final)} vs {_short(b)} "
            f"{fmt_points(base.final)} ROUGE-L.",
            budget(),
        ]
    elif have_srd and have_base:
        assert srd is not None and base is not None
        winner, sentence = _result_sentence(srd, base, pair)
        sentences += [sentence, budget()]
    comparison = next((c for c in summary.comparisons if (c.arm, c.reference) == pair), None)
    one = arm_title(a)
    other = "the baseline" if b == "baseline" else arm_title(b)
    if have_srd and have_base and comparison is not None:
        sentences += [s for s in (equal_steps_sentence(comparison), time_to_quality_sentence(comparison)) if s]
    elif have_srd and have_base:
        sentences.append(
            "Equal-steps view and time to quality: not available (both arms need evaluations "
            "during training; set train.eval_every)."
        )
    elif have_srd:
        assert srd is not None and srd.final is not None
        sentences.append(
            f"{one} reaches {fmt_points(srd.final)} ROUGE-L; {other}'s final score is not available, "
            "so there is no comparison."
        )
    elif have_base:
        assert base is not None and base.final is not None
        first = "The baseline" if b == "baseline" else arm_title(b)
        sentences.append(
            f"{first} reaches {fmt_points(base.final)} ROUGE-L; {one}'s final score is not available, "
            "so there is no comparison."
        )
    else:
        sentences.append(f"No final evaluation of {one} or {other} is available yet (run `srd evaluate`).")
    return winner, sentences


def _verdict_headline(summary: Summary, pair: tuple[str, str]) -> str:
    """The verdict's first sentence, for the pair that decides ``winner``."""
    a, b = (summary.methods.get(arm) for arm in pair)
    missing = [arm_title(arm) for arm, m in zip(pair, (a, b), strict=True) if m is None or m.final is None]
    if missing:
        return f"No verdict yet: {' and '.join(missing)} {'has' if len(missing) == 1 else 'have'} no final score."
    if summary.eval_n is not None and summary.eval_n < MIN_EVAL_SAMPLES:
        return f"No winner: {summary.eval_n} eval samples are too few to call one."
    assert a is not None and b is not None  # neither is missing
    return _headline(a, b, pair)


def compute_verdict(summary: Summary) -> Verdict:
    """A one-paragraph verdict from the numbers: for each curriculum arm against each reference arm, who wins, by
    how much, on what budget (the first pair decides ``winner``)."""
    pairs = summary.pairs or ([(summary.arms[0], summary.arms[1])] if len(summary.arms) > 1 else [])
    winner: str | None = None
    sentences: list[str] = []
    if not pairs:  # a single arm: nothing to compare it with
        for arm in summary.arms:
            m = summary.methods.get(arm)
            sentences.append(
                f"{arm_title(arm)} reaches {fmt_points(m.final)} ROUGE-L; the run trains no other arm "
                "to compare it with."
                if m and m.final is not None
                else f"No final evaluation of {arm_title(arm)} is available yet (run `srd evaluate`)."
            )
    headline = _verdict_headline(summary, pairs[0]) if pairs else (sentences[0] if sentences else "")
    paragraphs = [" ".join(sentences)] if sentences else []
    for i, pair in enumerate(pairs):
        pair_winner, said = _pair_sentences(summary, pair)
        if i == 0:
            winner = pair_winner
        elif said:
            said[0] = f"{arm_title(pair[0])} against {arm_title(pair[1])}: {said[0]}"
        if said:
            paragraphs.append(" ".join(said))
    notes = [s for s in (_teacher_sentence(summary), _noise_sentence(summary.curation)) if s]
    if notes:
        paragraphs.append(" ".join(notes))
    return Verdict(winner, " ".join(paragraphs), headline, paragraphs)
