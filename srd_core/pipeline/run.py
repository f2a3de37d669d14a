"""`srd run`: prepare → reflect → curate → train SRD → train baseline → evaluate → report.

Every phase is skipped when its artifact is complete (each phase keys its cache on its inputs), so
rerunning the same command continues where an interrupted run stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srd_core.config import SRDConfig, dump_config
from srd_core.io import fingerprint, read_jsonl, write_json_atomic, write_jsonl_atomic, write_text_atomic
from srd_core.rundir import EVAL_FILE, SAMPLES_META_FILE, TIMINGS_FILE

logger = logging.getLogger(__name__)



@dataclass
class RunResult:
    """What `srd run` did: seconds per phase (None = skipped as complete) and the final scores."""

    run_dir: Path
    phases: dict[str, float | None] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    report: Path | None = None


def _timed(result: RunResult, timings: dict[str, float], name: str, fn: Callable[[], bool]) -> None:
    """Run phase ``fn`` (returns True when it did work) and record its time."""
    start = time.perf_counter()
    did_work = fn()
    seconds = time.perf_counter() - start
    result.phases[name] = round(seconds, 3) if did_work else None
    if did_work:
        timings[name] = round(seconds, 3)
    logger.info("phase %s: %s", name, f"{seconds:.1f}s" if did_work else "complete, skipped")


def write_samples_meta(run_dir: Path, samples) -> None:
    """Analysis-only metadata of the training samples (family, noisy) for the report."""
    rows = [{"id": s.id, **{k: v for k, v in s.meta.items() if k in ("family", "noisy")}} for s in samples]
    write_jsonl_atomic(run_dir / SAMPLES_META_FILE, rows)


def _eval_key(config: SRDConfig, run_dir: Path, which: str) -> str:
    """Cache key of a final evaluation: eval settings, eval data spec and the evaluated model's identity."""
    from srd_core.evaluation.evaluate import model_location

    _, path, _ = model_location(config, run_dir, which)
    identity = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(Path(path).glob("*"))
                if p.is_file()] if Path(path).is_dir() else path
    return fingerprint({"eval": config.eval.model_dump(mode="json"), "data": config.data.model_dump(mode="json"),
                        "model": identity})


def evaluate_models(config: SRDConfig, run_dir: Path, models: list[str]) -> bool:
    """Final ROUGE-L of each model into eval.jsonl; models whose row is current are skipped."""
    from srd_core.evaluation.evaluate import evaluate_run_model, load_eval_samples, model_location, write_eval_row

    path = run_dir / EVAL_FILE
    rows = {r.get("model"): r for r in read_jsonl(path, tolerate_torn_tail=True)} if path.is_file() else {}
    todo = []
    for which in models:
        label = model_location(config, run_dir, which)[0]
        key = _eval_key(config, run_dir, which)
        if rows.get(label, {}).get("key") != key:
            todo.append((which, key))
    if not todo:
        return False
    samples = load_eval_samples(config)
    for which, key in todo:
        label, result = evaluate_run_model(config, run_dir, which, samples=samples)
        write_eval_row(path, result.to_row(label, key=key))
        logger.info("eval %s: ROUGE-L %.2f", label, result.score)
    return True


def run_pipeline(config: SRDConfig, run_dir: Path | None = None) -> RunResult:
    """Run every phase of SRD and its baseline on ``config``; finished phases are skipped."""
    from srd_core.curation.curate import run_curation
    from srd_core.data.samples import load_samples
    from srd_core.models.prepare import prepare
    from srd_core.reflection.reflect import default_accelerator, run_reflection
    from srd_core.report.build import write_report
    from srd_core.training.loop import rouge_eval_fn, train
    from srd_core.training.teacher_cache import build_teacher_caches, uses_cache

    run_dir = Path(run_dir) if run_dir is not None else config.run.dir
    run_dir.mkdir(parents=True, exist_ok=True)
    accelerator = default_accelerator()  # torchrun on CPU: gloo, not N independent single-process runs
    main = accelerator.is_main_process
    result = RunResult(run_dir)
    timings_path = run_dir / TIMINGS_FILE
    timings: dict[str, Any] = {}
    if timings_path.is_file():
        import json

        timings = json.loads(timings_path.read_text(encoding="utf-8"))

    if main:
        write_text_atomic(run_dir / "config.yaml", dump_config(config))

    def do_prepare() -> bool:
        if main:
            outcome = prepare(config, run_dir)
            did = outcome is not None and not outcome.skipped
        else:
            did = False
        accelerator.wait_for_everyone()
        return did

    _timed(result, timings, "prepare", do_prepare)
    samples = load_samples(config, "train")
    if main:
        write_samples_meta(run_dir, samples)

    _timed(result, timings, "reflect",
           lambda: not run_reflection(config, run_dir, accelerator=accelerator).summary.reused)
    _timed(result, timings, "curate", lambda: _curate(config, run_dir, samples, run_curation, main, accelerator))
    if uses_cache(config):  # the teacher's rows for every sample either arm trains on, computed once
        _timed(result, timings, "teacher_cache",
               lambda: any(r.built_shards for r in build_teacher_caches(config, run_dir, samples, accelerator)))

    def train_phase(label: str) -> Callable[[], bool]:
        def run() -> bool:
            if _was_complete(run_dir, label):
                return False
            eval_fn = rouge_eval_fn(config, run_dir) if config.train.eval_every and main else None
            train(config, run_dir, label, samples=samples, eval_fn=eval_fn)
            return True
        return run

    arms = [a for a in ["srd"] + (["baseline"] if config.baseline.enabled else []) if not _was_complete(run_dir, a)]
    if config.run.parallel_arms and len(arms) == 2 and accelerator.num_processes == 1:
        from srd_core.pipeline.arms import train_arms_in_parallel

        for arm, seconds in train_arms_in_parallel(config, run_dir, arms).items():
            result.phases[f"train_{arm}"] = timings[f"train_{arm}"] = seconds
    else:
        _timed(result, timings, "train_srd", train_phase("srd"))
        if config.baseline.enabled:
            _timed(result, timings, "train_baseline", train_phase("baseline"))

    models = ["teacher", "student", "srd"] + (["baseline"] if config.baseline.enabled else [])
    if main:
        _timed(result, timings, "evaluate", lambda: evaluate_models(config, run_dir, models))
        write_json_atomic(timings_path, timings)
        rows = read_jsonl(run_dir / EVAL_FILE, tolerate_torn_tail=True)
        result.scores = {r["model"]: r.get("score", r.get("rouge_l")) for r in rows}
        if config.report.enabled:
            _timed(result, timings, "report", lambda: bool(write_report(run_dir)))
            result.report = run_dir / "report.html"
            write_json_atomic(timings_path, timings)
    accelerator.wait_for_everyone()
    return result


def _was_complete(run_dir: Path, label: str) -> bool:
    return (run_dir / label / "summary.json").is_file() and (run_dir / label / "final" / "config.json").is_file()


def _curate(config, run_dir, samples, run_curation, main: bool, accelerator) -> bool:
    did = False
    if main:
        meta = run_dir / "curation.meta.json"
        before = meta.read_bytes() if meta.is_file() else b""
        run_curation(config, run_dir, samples=samples)
        did = meta.read_bytes() != before
    accelerator.wait_for_everyone()
    return did
