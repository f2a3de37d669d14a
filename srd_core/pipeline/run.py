"""`srd run`: prepare → reflect → curate → train every arm (SRD, the baseline, ...) → evaluate → report.

Every phase follows the dependency rule of ``srd_core.pipeline.phases``: skipped while its artifact
is complete, set aside and recomputed (saying why) when stale, resumed when an attempt stopped midway.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srd_core.config import SRDConfig, dump_config
from srd_core.errors import Interrupted, Terminated
from srd_core.io import read_jsonl, write_json_atomic, write_jsonl_atomic, write_text_atomic
from srd_core.rundir import CONFIG_FILE, EVAL_FILE, REPORT_FILE, SAMPLES_META_FILE, TIMINGS_FILE
from srd_core.timings import PARALLEL_KEY

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
    try:
        did_work = fn()
    except (KeyboardInterrupt, Terminated) as exc:  # training raises its own Interrupted, naming the step
        signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        raise Interrupted(f"interrupted in {name}; rerun the same command to resume", signum) from None
    seconds = time.perf_counter() - start
    result.phases[name] = round(seconds, 3) if did_work else None
    if did_work:
        timings[name] = round(seconds, 3)
    logger.info("phase %s: %s", name, f"{seconds:.1f}s" if did_work else "complete, skipped")


def write_samples_meta(run_dir: Path, samples) -> None:
    """Analysis-only metadata of the training samples (family, noisy) for the report."""
    rows = [{"id": s.id, **{k: v for k, v in s.meta.items() if k in ("family", "noisy")}} for s in samples]
    write_jsonl_atomic(run_dir / SAMPLES_META_FILE, rows)


def evaluate_models(config: SRDConfig, run_dir: Path, models: list[str], planner=None,
                    samples: list | None = None) -> bool:
    """Final ROUGE-L of each model into eval.jsonl; models whose row is complete (see phases.py) are skipped.

    ``samples`` are the held-out samples when already loaded.
    """
    from srd_core.evaluation.evaluate import evaluate_run_model, load_eval_samples, model_location, write_eval_row
    from srd_core.models.generation import truncation_notice
    from srd_core.pipeline.phases import Planner, run_phase

    planner = planner or Planner(config, run_dir)
    path = run_dir / EVAL_FILE
    loaded: list = [samples] if samples is not None else []
    warned: list[bool] = []

    def evaluate(which: str) -> None:
        if not loaded:
            loaded.append(load_eval_samples(config))
        label, result = evaluate_run_model(config, run_dir, which, samples=loaded[0])
        write_eval_row(path, result.to_row(label))
        logger.info("eval %s: ROUGE-L %.2f", label, result.score)
        notice = truncation_notice("evaluation", result.prompts_truncated, result.n, config.data.max_prompt_tokens)
        if notice and not warned:  # the same prompts for every model: said once
            logger.warning(notice)
            warned.append(True)

    did = False
    for which in models:
        label = model_location(config, run_dir, which)[0]
        status, _ = run_phase(planner, f"evaluate_{label}", lambda which=which: evaluate(which))
        did = did or status.state not in ("complete", "off")
    if did:  # the trackers of train.log_with get the final scores once they are known
        from srd_core.training.trackers import log_final_scores

        log_final_scores(config, run_dir, read_jsonl(path, tolerate_torn_tail=True))
    return did


def run_pipeline(config: SRDConfig, run_dir: Path | None = None) -> RunResult:
    """Run every phase of SRD and its baseline on ``config``; complete phases are skipped, stale ones redone."""
    from srd_core.arms import arm_names, config_for_curation, curate_phase, curation_dir, resolve_arms
    from srd_core.curation.curate import run_curation
    from srd_core.data.samples import load_samples, needs_prepared_tokenizer
    from srd_core.models.prepare import prepare
    from srd_core.pipeline.commands import sync_config_file
    from srd_core.pipeline.phases import Planner, consistent, run_phase
    from srd_core.reflection.reflect import default_accelerator, run_reflection
    from srd_core.report.build import write_report
    from srd_core.training.loop import rouge_eval_fn, train
    from srd_core.training.teacher_cache import build_teacher_caches, uses_cache

    run_dir = Path(run_dir) if run_dir is not None else config.run.dir
    # The data is read before anything is written or trained, so a bad field or sample stops the run in
    # seconds and leaves the run dir as it was; only a split formatted with a chat template whose
    # tokenizer prepare trains waits for it.
    samples = None if needs_prepared_tokenizer(config, "train") else load_samples(config, "train")
    eval_samples = None if needs_prepared_tokenizer(config, "eval") else load_samples(config, "eval")
    if samples is not None and config.curriculum.groups.name != "none":
        from srd_core.curation.curate import assign_groups

        assign_groups(samples, config.curriculum)  # a sample without the grouping's field stops the run here
    run_dir.mkdir(parents=True, exist_ok=True)
    accelerator = default_accelerator()  # torchrun on CPU: gloo, not N independent single-process runs
    main = accelerator.is_main_process
    planner = Planner(config, run_dir)
    result = RunResult(run_dir)
    timings_path = run_dir / TIMINGS_FILE
    timings: dict[str, Any] = {}
    if timings_path.is_file():
        import json

        timings = json.loads(timings_path.read_text(encoding="utf-8"))

    sync_config_file(planner, main)  # an old config.yaml must not describe what this run is about to replace

    def phase(name: str, work: Callable[[], Any]) -> Callable[[], bool]:
        def run() -> bool:
            status, _ = run_phase(planner, name, work, main=main, barrier=accelerator.wait_for_everyone)
            return status.state not in ("complete", "off")
        return run

    def do_prepare() -> None:
        if main:
            prepare(config, run_dir)
        accelerator.wait_for_everyone()

    _timed(result, timings, "prepare", phase("prepare", do_prepare))
    if samples is None:
        samples = load_samples(config, "train")
    if main:
        write_samples_meta(run_dir, samples)

    _timed(result, timings, "reflect", phase("reflect", lambda: run_reflection(config, run_dir,
                                                                               accelerator=accelerator)))
    _timed(result, timings, "curate", phase("curate", lambda: _curate(config, run_dir, samples, run_curation, main,
                                                                      accelerator)))
    for arm in resolve_arms(config).values():  # arms whose curriculum differs: curated on their own
        if arm.curation == arm.name:
            _timed(result, timings, curate_phase(arm), phase(curate_phase(arm), lambda arm=arm: _curate(
                config_for_curation(config, arm), run_dir, samples, run_curation, main, accelerator,
                curation_dir(run_dir, arm))))
    if uses_cache(config):  # the teacher's rows for every sample either arm trains on, computed once
        _timed(result, timings, "teacher_cache",
               phase("teacher_cache", lambda: build_teacher_caches(config, run_dir, samples, accelerator)))

    def train_label(label: str) -> Callable[[], None]:
        def run() -> None:
            eval_fn = rouge_eval_fn(config, run_dir) if config.train.eval_every and main else None
            train(config, run_dir, label, samples=samples, eval_fn=eval_fn)
        return run

    arms = arm_names(config)
    if config.run.parallel_arms and len(arms) > 1 and accelerator.num_processes == 1:
        _train_arms_in_parallel(config, run_dir, planner, result, timings, arms)
    else:
        for arm in arms:
            _timed(result, timings, f"train_{arm}", phase(f"train_{arm}", train_label(arm)))
        if any(result.phases.get(f"train_{arm}") is not None for arm in arms):
            timings.pop(PARALLEL_KEY, None)  # arms trained one after the other: their times add up

    models = ["teacher", "student", *arms]
    if main:
        _timed(result, timings, "evaluate", lambda: evaluate_models(config, run_dir, models, planner, eval_samples))
        write_json_atomic(timings_path, timings)
        rows = read_jsonl(run_dir / EVAL_FILE, tolerate_torn_tail=True)
        result.scores = {r["model"]: r.get("score", r.get("rouge_l")) for r in rows}
        if consistent(planner, ignore=("report",)):  # config.yaml describes the artifacts: written once they match
            write_text_atomic(run_dir / CONFIG_FILE, dump_config(config))
        if config.report.enabled:
            _timed(result, timings, "report", phase("report", lambda: write_report(run_dir)))
            result.report = run_dir / REPORT_FILE
            write_json_atomic(timings_path, timings)
    accelerator.wait_for_everyone()
    return result


def _train_arms_in_parallel(config: SRDConfig, run_dir: Path, planner, result: RunResult,
                            timings: dict[str, Any], arms: list[str]) -> None:
    """Every arm's phase opened (stale ones set aside), the arms that need work trained at once, then closed.

    ``timings.json`` records each arm's seconds and, under ``parallel``, the arms trained together and the
    wall seconds of the whole batch, so that nobody adds up times that overlapped.
    """
    from srd_core.pipeline.arms import train_arms_in_parallel
    from srd_core.pipeline.phases import close_phase, open_phase

    statuses = {arm: open_phase(planner, f"train_{arm}") for arm in arms}
    todo = [arm for arm, status in statuses.items() if status.state not in ("complete", "off")]
    started = time.perf_counter()
    seconds = train_arms_in_parallel(config, run_dir, todo) if todo else {}
    if len(todo) > 1:
        timings[PARALLEL_KEY] = {"phases": [f"train_{arm}" for arm in todo],
                                 "seconds": round(time.perf_counter() - started, 3)}
    elif todo:  # one arm retrained alone: the earlier batch no longer describes these times
        timings.pop(PARALLEL_KEY, None)
    for arm, status in statuses.items():
        if arm in todo:
            close_phase(planner, status)
        result.phases[f"train_{arm}"] = seconds.get(arm)
        if arm in seconds:
            timings[f"train_{arm}"] = seconds[arm]
        logger.info("phase train_%s: %s", arm, f"{seconds[arm]:.1f}s (in parallel)" if arm in seconds
                    else "complete, skipped")


def _curate(config, run_dir, samples, run_curation, main: bool, accelerator, out_dir: Path | None = None) -> None:
    if main:
        from srd_core.curation.diagnostics import log_group_table

        log_group_table(config, run_curation(config, run_dir, samples=samples, out_dir=out_dir))
    accelerator.wait_for_everyone()
