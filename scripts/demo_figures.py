"""Print a run's figures as the markdown that docs/performance.md quotes: `python scripts/demo_figures.py runs/demo`.

Every number comes from the run directory (eval.jsonl, timings.json, summary.json, the arms' eval
curves), so the docs quote the same run as its report.html.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from srd_core.report.build import build_report
from srd_core.report.summary import MODEL_NAMES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    run_dir = Path(parser.parse_args().run_dir)
    report = build_report(run_dir)
    rows = {r["model"]: r for r in map(json.loads, (run_dir / "eval.jsonl").read_text().splitlines()) if r}
    families = sorted({f for r in rows.values() for f in r.get("per_family", {})})
    print("| model | steps | TFLOPs | ROUGE-L | " + " | ".join(families) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(families))
    for name in rows:  # teacher, initial student, then every arm in the order the run evaluated them
        summary = run_dir / name / "summary.json"
        done = json.loads(summary.read_text()) if summary.is_file() else {}
        flops = f"{done['flops'] / 1e12:.2f}" if done.get("flops") else ""
        per = rows[name].get("per_family", {})
        print(
            f"| {MODEL_NAMES.get(name, name)} | {done.get('steps', '')} | {flops} | {rows[name]['score']:.1f} | "
            + " | ".join(f"{per.get(f, float('nan')):.1f}" for f in families)
            + " |"
        )
    timings = json.loads((run_dir / "timings.json").read_text())
    print("\nphases (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items() if isinstance(v, (int, float))))
    print(f"\nverdict: {report.verdict.headline} {report.verdict.text}")


if __name__ == "__main__":
    main()
