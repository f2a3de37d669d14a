"""`srd run`: every phase of the table (``srd_core.pipeline.phases.TABLE``) in order, each through its work.

prepare → reflect → curate → train every arm (SRD, the baseline, ...) → evaluate → report, as the table says.
Every phase follows the dependency rule of ``srd_core.pipeline.planner``: skipped while its artifact is
complete, set aside and recomputed (saying why) when stale, resumed when an attempt stopped midway.
"""

from __future__ import annotations

import itertools
import json
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from srd_core.config import SRDConfig
from srd_core.curation.curate import assign_groups, forms_groups
from srd_core.data.samples import load_samples, needs_prepared_tokenizer
from srd_core.errors import Interrupted, Terminated
from srd_core.io import read_jsonl, write_json_atomic
from srd_core.pipeline.phases import Phase, steps
from srd_core.pipeline.planner import Planner, close_phase, consistent, open_phase, run_phase
from srd_core.pipeline.single_phase import sync_config_file
from srd_core.pipeline.work import RunContext, RunResult
from srd_core.rundir import EVAL_FILE, TIMINGS_FILE
from srd_core.timings import PARALLEL_KEY

logger = logging.getLogger(__name__)


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


def run_pipeline(config: SRDConfig, run_dir: Path | None = None) -> RunResult:
    """Run every phase of SRD and its baseline on ``config``; complete phases are skipped, stale ones redone."""
    from srd_core.reflection.reflect import default_accelerator  # deferred: torch

    run_dir = Path(run_dir) if run_dir is not None else config.run.dir
    # The data is read before anything is written or trained, so a bad field or sample stops the run in
    # seconds and leaves the run dir as it was; only a split formatted with a chat template whose
    # tokenizer prepare trains waits for it.
    samples = None if needs_prepared_tokenizer(config, "train") else load_samples(config, "train")
    eval_samples = None if needs_prepared_tokenizer(config, "eval") else load_samples(config, "eval")

    if samples is not None and forms_groups(config.curriculum):
        assign_groups(samples, config.curriculum)  # a sample without the grouping's field stops the run here
    run_dir.mkdir(parents=True, exist_ok=True)
    accelerator = default_accelerator()  # torchrun on CPU: gloo, not N independent single-process runs
    main = accelerator.is_main_process
    planner = Planner(config, run_dir)
    result = RunResult(run_dir)
    timings_path = run_dir / TIMINGS_FILE
    timings: dict[str, Any] = {}
    if timings_path.is_file():
        timings = json.loads(timings_path.read_text(encoding="utf-8"))

    sync_config_file(planner, main)  # an old config.yaml must not describe what this run is about to replace
    run = RunContext(
        config,
        run_dir,
        accelerator,
        main,
        lambda ignore: consistent(planner, ignore=ignore),
        result,
        samples,
        eval_samples,
    )
    all_steps = steps(planner.phases)
    i = 0
    while i < len(all_steps):
        step = all_steps[i]
        together = step[0].parallel
        if together is None:
            _run_step(run, planner, timings, step, timings_path)
            i += 1
            continue
        group = list(itertools.takewhile(_same_parallel(together), all_steps[i:]))
        names = [p.name for s in group for p in s if p.enabled(config)]
        if config.run.parallel_arms and len(names) > 1 and accelerator.num_processes == 1:
            _run_in_parallel(run, planner, timings, together, names)
        else:
            for s in group:
                _run_step(run, planner, timings, s, timings_path)
            if any(result.phases.get(name) is not None for name in names):
                timings.pop(PARALLEL_KEY, None)  # phases run one after the other: their times add up
        i += len(group)
    if main:
        rows = read_jsonl(run_dir / EVAL_FILE, tolerate_torn_tail=True)
        # a row without a score is left out (the CLI formats each score as a number)
        result.scores = {r["model"]: score for r in rows if (score := r.get("score", r.get("rouge_l"))) is not None}
    accelerator.wait_for_everyone()
    return result


def _same_parallel(together: Callable[..., Any]) -> Callable[[list[Phase]], bool]:
    """Whether a step's first phase runs with ``together`` (the steps of one parallel group)."""
    return lambda step: step[0].parallel is together


def _phase_work(phase: Phase, run: RunContext) -> Callable[[], Any]:
    """``phase.work(run)``, to call when the dependency rule says the phase must run."""

    def call() -> Any:
        assert phase.work is not None  # every phase of `srd run`'s steps has a work function
        return phase.work(run)

    return call


def _run_step(run: RunContext, planner, timings: dict[str, Any], step: list[Phase], timings_path: Path) -> None:
    """The phases of one step through the dependency rule, timed as one; then the step's ``then``.

    A step only the main process runs writes timings.json after it (the other processes go on).
    """
    first = step[0]
    if first.main_only and not run.main:
        return
    live = [p for p in step if p.enabled(run.config) or p.timed_when_off]
    if live:

        def work() -> bool:
            did = False
            for phase in live:
                barrier = (lambda: None) if phase.main_only else run.accelerator.wait_for_everyone
                status, _ = run_phase(planner, phase.name, _phase_work(phase, run), main=run.main, barrier=barrier)
                did = did or status.state not in ("complete", "off")
            return did

        _timed(run.result, timings, first.step_name, work)
    if first.then is not None:
        first.then(run, run.result.phases.get(first.step_name) is not None)
    if first.main_only and live:
        write_json_atomic(timings_path, timings)


def _run_in_parallel(
    run: RunContext,
    planner,
    timings: dict[str, Any],
    together: Callable[[RunContext, list[str]], dict[str, float]],
    names: list[str],
) -> None:
    """Every phase opened (stale ones set aside), the phases that need work run at once, then closed.

    ``timings.json`` records each phase's seconds and, under ``parallel``, the phases run together and the
    wall seconds of the whole batch, so that nobody adds up times that overlapped.
    """
    statuses = {name: open_phase(planner, name) for name in names}
    todo = [name for name, status in statuses.items() if status.state not in ("complete", "off")]
    started = time.perf_counter()
    seconds = together(run, todo) if todo else {}
    if len(todo) > 1:
        timings[PARALLEL_KEY] = {"phases": todo, "seconds": round(time.perf_counter() - started, 3)}
    elif todo:  # one phase rerun alone: the earlier batch no longer describes these times
        timings.pop(PARALLEL_KEY, None)
    for name, status in statuses.items():
        if name in todo:
            close_phase(planner, status)
        run.result.phases[name] = seconds.get(name)
        if name in seconds:
            timings[name] = seconds[name]
        logger.info(
            "phase %s: %s", name, f"{seconds[name]:.1f}s (in parallel)" if name in seconds else "complete, skipped"
        )
