"""Is a run's comparison fair? `python scripts/fairness_figures.py runs/demo [more run dirs]`.

For each run directory: how much the initial student's reflection ROUGE-L ties (the share of the
training samples holding the most common value, overall and per task family), the initial student's
and the teacher's held-out scores per family, and for each arm's eval curve whether it reached its
plateau (the last third of its evaluations gains under 1.5 ROUGE-L points). docs/performance.md quotes
these figures.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from srd_core.config import load_config
from srd_core.data.samples import load_samples
from srd_core.evaluation.curves import CurvePoint, curve_from_rows, score_at_step
from srd_core.evaluation.rouge import rouge_l

PLATEAU_GAIN = 1.5
"""A curve has plateaued when its last third of evaluations gains less than this (ROUGE-L x100)."""


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def modal_shares(run_dir: Path) -> tuple[tuple[float, float], dict[str, tuple[float, float]]]:
    """(modal value, its share) of the reflection ROUGE-L, overall and per family."""
    config = load_config(run_dir / "config.yaml")
    samples = {s.id: s for s in load_samples(config, "train")}
    by_family: dict[str, list[float]] = defaultdict(list)
    values = []
    for row in _rows(run_dir / "reflection.jsonl"):
        sample = samples[row["id"]]
        value = round(rouge_l(row["output"], sample.references), 6)
        values.append(value)
        by_family[str(sample.meta.get("family", "all"))].append(value)

    def modal(vs: list[float]) -> tuple[float, float]:
        value, count = Counter(vs).most_common(1)[0]
        return value, count / len(vs)

    return modal(values), {family: modal(vs) for family, vs in sorted(by_family.items())}


def last_third_gain(curve: list[CurvePoint]) -> tuple[CurvePoint, float]:
    """The evaluation where the curve's last third starts, and the gain from there to the last one."""
    start = curve[len(curve) - len(curve) // 3 - 1]
    return start, curve[-1].score - start.score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    for run_dir in parser.parse_args().run_dirs:
        print(f"== {run_dir}")
        (value, share), families = modal_shares(run_dir)
        print(
            f"reflection ROUGE-L: modal value {value:.2f} holds {100 * share:.1f} % of the samples; per family: "
            + ", ".join(f"{f} {100 * s:.0f} % at {v:.2f}" for f, (v, s) in families.items())
        )
        evals = {row["model"]: row for row in _rows(run_dir / "eval.jsonl")}
        for model, row in evals.items():
            per = ", ".join(f"{f} {v:.1f}" for f, v in row.get("per_family", {}).items())
            print(f"held-out {model}: {row['score']:.1f} ({per})")
        curves = {arm: curve_from_rows(_rows(run_dir / arm / "eval.jsonl")) for arm in ("srd", "baseline")}
        for arm, curve in curves.items():
            if len(curve) < 3:
                continue
            start, gain = last_third_gain(curve)
            verdict = "plateau" if gain < PLATEAU_GAIN else "still climbing"
            best = max(p.score for p in curve)
            print(
                f"{arm}: {curve[-1].step} steps, final {curve[-1].score:.1f}, best {best:.1f}; "
                f"last third from step {start.step} ({start.score:.1f}) gains {gain:+.1f}: {verdict}; "
                f"training wall {curve[-1].wall_time:.0f} s"
            )
        if len(curves.get("srd", [])) and len(curves.get("baseline", [])):
            start = evals.get("student_init", {}).get("score")
            at = score_at_step(curves["baseline"], curves["srd"][-1].step, start)
            if at is not None:
                print(f"baseline at SRD's {curves['srd'][-1].step} steps: {at:.1f}")


if __name__ == "__main__":
    main()
