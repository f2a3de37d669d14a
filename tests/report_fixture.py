"""A fake but realistic run directory for report tests: every artifact with plausible numbers."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

FAMILIES = {"reverse_words": 0.85, "add_2digit": 0.6, "kv_lookup": 0.45, "sort_words": 0.3}
N_SAMPLES = 120
N_NOISY = 12
STEPS = 60
LOG_EVERY = 5
EVAL_EVERY = 15


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _rank(values: list[float], higher_is_easier: bool) -> list[int]:
    order = sorted(range(len(values)), key=lambda i: values[i], reverse=higher_is_easier)
    ranks = [0] * len(values)
    for position, index in enumerate(order, start=1):
        ranks[index] = position
    return ranks


def _training_rows(method: str, rng: random.Random) -> list[dict[str, Any]]:
    rows, tokens, response_tokens = [], 0, 0
    for step in range(LOG_EVERY, STEPS + 1, LOG_EVERY):
        stage = min((step - 1) * 3 // STEPS, 2) if method == "srd" else 0
        temperature = (1.0, 1.5, 2.0)[stage] if method == "srd" else 1.0
        w_sft = (0.3, 0.2, 0.1)[stage] if method == "srd" else 0.2
        response_tokens += LOG_EVERY * 8 * (24 + 6 * stage if method == "srd" else 30)
        tokens = 3 * response_tokens
        ce = 2.5 * 0.97**step + rng.uniform(0, 0.05)
        kd = 1.2 * 0.97**step
        rows.append(
            {
                "step": step,
                "stage": stage,
                "epoch": step / STEPS,
                "loss": w_sft * ce + (1 - w_sft) * kd,
                "ce": ce,
                "kd": kd,
                "T": temperature,
                "w_sft": w_sft,
                "lr": 1e-4,
                "tokens_per_s": 900.0 + 10 * stage,
                "teacher_share": 0.4,
                "wall_time": step * (1.9 if method == "srd" else 2.1),
                "tokens": tokens,
                "response_tokens": response_tokens,
            }
        )
    return rows


def build_fake_run(
    run_dir: Path,
    srd_score: float = 45.3,
    baseline_score: float = 41.0,
    sd: float = 0.4,
    title: str = "demo <run> & co",
) -> Path:
    """Write every artifact of a finished run into ``run_dir``; returns ``run_dir``."""
    rng = random.Random(7)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(f"run:\n  name: demo\nreport:\n  title: {json.dumps(title)}\n")
    families = list(FAMILIES)
    ids = [f"s{i:04d}" for i in range(N_SAMPLES)]
    noisy = set(rng.sample(ids, N_NOISY))
    meta = [{"id": sid, "family": families[i % len(families)], "noisy": sid in noisy} for i, sid in enumerate(ids)]
    _write_jsonl(run_dir / "samples_meta.jsonl", meta)

    rouge, ce = [], []
    for m in meta:
        easy = FAMILIES[m["family"]]
        if m["noisy"] and rng.random() < 0.8:
            easy = 0.05
        rouge.append(max(0.0, min(1.0, rng.gauss(easy, 0.12))))
        ce.append(max(0.05, rng.gauss(3.0 - 2.5 * easy, 0.3)))
    reflection = [
        {
            "id": sid,
            "prompt_hash": f"h{i}",
            "output": "out",
            "ce": ce[i],
            "prompt_tokens": 40,
            "response_tokens": 20,
            "output_tokens": 18,
            "prompt_truncated": False,
        }
        for i, sid in enumerate(ids)
    ]
    _write_jsonl(run_dir / "reflection.jsonl", reflection)

    r_rank, c_rank = _rank(rouge, True), _rank(ce, False)
    fused = [1 / (60 + r_rank[i]) + 1 / (60 + c_rank[i]) for i in range(N_SAMPLES)]
    order = sorted(range(N_SAMPLES), key=lambda i: fused[i], reverse=True)
    final_rank = _rank(fused, True)
    n_keep = int(0.75 * N_SAMPLES)
    bin_size = n_keep // 3
    bin_of = {order[p]: p // bin_size for p in range(n_keep)}
    curation = [
        {
            "id": sid,
            "values": {"rouge_l": rouge[i], "cross_entropy": ce[i]},
            "ranks": {"rouge_l": r_rank[i], "cross_entropy": c_rank[i]},
            "fused": fused[i],
            "rank": final_rank[i],
            "kept": i in bin_of,
            "bin": bin_of.get(i),
        }
        for i, sid in enumerate(ids)
    ]
    _write_jsonl(run_dir / "curation.jsonl", curation)

    finals = {"srd": srd_score, "baseline": baseline_score}
    for method in ("srd", "baseline"):
        metrics = _training_rows(method, rng)
        _write_jsonl(run_dir / method / "metrics.jsonl", metrics)
        if method == "srd":  # written when training finishes; the baseline's budget comes from metrics.jsonl
            last = metrics[-1]
            (run_dir / method / "summary.json").write_text(
                json.dumps(
                    {
                        "label": method,
                        "steps": last["step"],
                        "stages": 3,
                        "tokens": last["tokens"],
                        "response_tokens": last["response_tokens"],
                        "wall_time": last["wall_time"],
                        "skipped_steps": 0,
                        "final_dir": str(run_dir / method / "final"),
                        "stage_steps": [20, 20, 20],
                    }
                )
            )
        evals = []
        for step in range(0, STEPS + 1, EVAL_EVERY):
            frac = step / STEPS
            evals.append(
                {
                    "step": step,
                    "stage": 0,
                    "wall_time": step * 2.0 + 3 * frac,
                    "tokens": step * 240,
                    "rouge_l": 30.0 + (finals[method] - 30.0) * frac**0.7,
                    "sd": 0.0,
                    "n": 50,
                    "protocol": "greedy",
                }
            )
        _write_jsonl(run_dir / method / "eval.jsonl", evals)

    per_family = {f: 40.0 + 10 * FAMILIES[f] for f in families}
    final_rows = [
        {"model": "teacher", "score": 60.2, "sd": sd, "n": 50, "protocol": "distillm", "per_family": per_family},
        {"model": "student_init", "score": 30.1, "sd": sd, "n": 50, "protocol": "distillm"},
        {"model": "srd", "score": srd_score, "sd": sd, "n": 50, "protocol": "distillm", "per_family": per_family},
        {"model": "baseline", "score": baseline_score, "sd": sd, "n": 50, "protocol": "distillm"},
    ]
    _write_jsonl(run_dir / "eval.jsonl", final_rows)
    _write_jsonl(
        run_dir / "eval_sets.jsonl",
        [
            {"model": model, "set": name, "score": base + offset, "sd": sd, "n": 20, "protocol": "distillm"}
            for model, base in (
                ("teacher", 60.0),
                ("student_init", 30.0),
                ("srd", srd_score),
                ("baseline", baseline_score),
            )
            for name, offset in (("dolly", 0.0), ("sinst", -5.0))
            if not (model == "baseline" and name == "sinst")
        ],
    )
    (run_dir / "timings.json").write_text(
        json.dumps(
            {
                "prepare": 95.0,
                "reflect": 21.5,
                "curate": 0.4,
                "train_srd": 130.2,
                "train_baseline": 140.7,
                "evaluate": 33.0,
            }
        )
    )
    return run_dir


STRATIFIED_CONFIG = """run:
  name: demo
teacher: {path: t}
student: {path: s}
data:
  train: {name: synthetic}
curriculum:
  pacer: {name: baby_step, num_bins: 3, epochs_per_stage: 2.0}
baseline:
  pacer: {name: all, epochs: 5}
arms:
  srd: {}
  srd_stratified: {curriculum: {stratify: true, groups: {name: field, field: family}}, pacer: {epochs_per_stage: 3}}
  baseline: {}
"""


def add_stratified_arm(run_dir: Path, score: float = 47.0) -> Path:
    """Make ``run_dir`` (``build_fake_run``) a three-arm run: srd, srd_stratified (its own curation in
    curation-srd_stratified/: the easiest 75 % of each family, each family cut into thirds, 3 epochs per stage)
    and baseline, as an `arms` section writes them."""
    (run_dir / "config.yaml").write_text(STRATIFIED_CONFIG)
    meta = {r["id"]: r for r in map(json.loads, (run_dir / "samples_meta.jsonl").read_text().splitlines())}
    base = [json.loads(line) for line in (run_dir / "curation.jsonl").read_text().splitlines()]
    rows = []
    for family in FAMILIES:
        members = sorted((r for r in base if meta[r["id"]]["family"] == family), key=lambda r: r["rank"])
        keep = round(0.75 * len(members))
        for position, r in enumerate(members):
            kept = position < keep
            rows.append({**r, "group": family, "kept": kept, "bin": position * 3 // keep if kept else None})
    order = {r["id"]: i for i, r in enumerate(base)}
    _write_jsonl(run_dir / "curation-srd_stratified" / "curation.jsonl", sorted(rows, key=lambda r: order[r["id"]]))
    arm = run_dir / "srd_stratified"
    arm.mkdir()
    for name in ("metrics.jsonl", "summary.json"):
        (arm / name).write_text((run_dir / "srd" / name).read_text())
    evals = [json.loads(line) for line in (run_dir / "srd" / "eval.jsonl").read_text().splitlines()]
    _write_jsonl(arm / "eval.jsonl", [{**e, "rouge_l": e["rouge_l"] + 1.0} for e in evals])
    summary = json.loads((arm / "summary.json").read_text())
    (arm / "summary.json").write_text(json.dumps({**summary, "label": "srd_stratified", "curated": True}))
    finals = [json.loads(line) for line in (run_dir / "eval.jsonl").read_text().splitlines()]
    _write_jsonl(
        run_dir / "eval.jsonl",
        [*finals, {"model": "srd_stratified", "score": score, "sd": 0.4, "n": 50, "protocol": "distillm"}],
    )
    return run_dir
