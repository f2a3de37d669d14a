"""Run every (variant, seed) of an experiment as its own `srd run` subprocess, resumably.

Each run has its own run dir under ``<experiment>/runs/`` and its config under ``configs/``; a finished
run leaves ``done/<run>.json`` and is skipped next time, a killed one is simply run again (`srd run`
resumes from its checkpoints). With ``jobs`` > 1 several runs go at once, each with its share of the
threads. Runs of one share group wait for the group's first run to finish its reflection, then get its
prepared models and reflection (``sharing``).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from srd_core.experiment.aggregate import ROWS_FILE, write_results
from srd_core.experiment.layout import config_path, config_sha, done_path, is_done, log_path, run_dir
from srd_core.experiment.progress import PhaseNames, Progress, finished_seconds, run_activity
from srd_core.experiment.sharing import donor_ready, share_from, share_group
from srd_core.experiment.spec import Experiment, ExperimentError, PlannedRun, dump_run_config
from srd_core.io import append_jsonl, read_jsonl, write_json_atomic, write_text_atomic

logger = logging.getLogger(__name__)

LOCK_FILE = "experiment.lock"
INVOCATIONS_FILE = "invocations.jsonl"
"""One row per `srd experiment` invocation that ran something: start, seconds, jobs, machine."""
POLL_SECONDS = 0.5
STATUS_SECONDS = 30.0
"""How often the progress line is repeated while nothing starts or finishes."""
RUN_COMMAND = [sys.executable, "-c", "from srd_core.cli import main; main()", "run"]


@dataclass
class RunOutcome:
    """What happened to each run of this invocation."""

    skipped: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@contextlib.contextmanager
def experiment_lock(directory: Path) -> Iterator[None]:
    """Hold ``<directory>/experiment.lock`` for the whole experiment; a second `srd experiment` is refused."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_FILE, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExperimentError(f"{directory}: another `srd experiment` is running on this directory") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def threads_per_job(jobs: int) -> int:
    """Each job's share of the threads: ``OMP_NUM_THREADS`` (else the CPU count) split over ``jobs``."""
    total = os.environ.get("OMP_NUM_THREADS")
    available = int(total) if total and total.isdigit() else (os.cpu_count() or 1)
    return max(1, available // jobs)


def machine_description() -> str:
    """CPU model and count, and the GPU if torch sees one (for docs/results.md)."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} × {cpu}, {platform.system()} {platform.release()}"


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the experiment process dies (Linux), so no run is left orphaned."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _Scheduler:
    def __init__(self, experiment: Experiment, jobs: int) -> None:
        self.experiment, self.jobs = experiment, jobs
        self.threads = threads_per_job(jobs)
        self.groups = {run.name: share_group(run.config) for run in experiment.runs}
        self.leaders: dict[str, PlannedRun] = {}
        for run in experiment.runs:
            self.leaders.setdefault(self.groups[run.name], run)
        self.running: dict[str, tuple[PlannedRun, subprocess.Popen, float]] = {}

    def leader(self, run: PlannedRun) -> PlannedRun | None:
        leader = self.leaders[self.groups[run.name]]
        return None if leader.name == run.name else leader

    def ready(self, run: PlannedRun, finished: set[str]) -> bool:
        leader = self.leader(run)
        if leader is None or not self.experiment.spec.share or leader.name in finished:
            return True
        return donor_ready(run_dir(self.experiment, leader))

    def start(self, run: PlannedRun) -> None:
        exp = self.experiment
        leader = self.leader(run)
        if exp.spec.share and leader is not None:
            got = share_from(run.config, run_dir(exp, leader), run_dir(exp, run))
            if got:
                logger.info(
                    "%s: shares %s from %s",
                    run.name,
                    ", ".join(k for k in ("prepared", "reflection", "evaluations") if got.get(k)),
                    leader.name,
                )
        env = {
            **os.environ,
            "OMP_NUM_THREADS": str(self.threads),
            "MKL_NUM_THREADS": str(self.threads),
            "TQDM_DISABLE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        log = log_path(exp, run)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(
                f"=== srd run {config_path(exp, run)} ({time.strftime('%Y-%m-%d %H:%M:%S')}, {self.threads} threads)\n"
            )
            fh.flush()
            process = subprocess.Popen(
                [*RUN_COMMAND, str(config_path(exp, run))],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_die_with_parent,
            )
        self.running[run.name] = (run, process, time.perf_counter())
        logger.info("%s: started (%d threads; log %s)", run.name, self.threads, log)

    def stop_all(self) -> None:
        for _, process, _ in self.running.values():
            if process.poll() is None:
                process.terminate()
        for _, process, _ in self.running.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _report_progress(
    experiment: Experiment, scheduler: _Scheduler, finished: set[str], pending: list, phase_names: PhaseNames
) -> str:
    """Log one progress line: runs done / running / left, the ETA, each running run's phase and step."""
    now = time.perf_counter()
    progress = Progress(
        done=len(finished),
        running={name: now - started for name, (_, _, started) in scheduler.running.items()},
        left=len(pending),
        jobs=scheduler.jobs,
        durations=finished_seconds([done_path(experiment, r) for r in experiment.runs if r.name in finished]),
    )
    line = progress.line(
        {
            name: run_activity(run_dir(experiment, run), phase_names(run.config))
            for name, (run, _, _) in scheduler.running.items()
        }
    )
    logger.info("progress: %s", line)
    return line


def _finish(experiment: Experiment, run: PlannedRun, seconds: float) -> None:
    write_json_atomic(
        done_path(experiment, run),
        {
            "run": run.name,
            "variant": run.variant,
            "seed": run.seed,
            "config": config_sha(run),
            "seconds": round(seconds, 3),
        },
    )


def run_experiment(experiment: Experiment, phase_names: PhaseNames) -> RunOutcome:
    """Run (or resume) every planned run, then write experiment.jsonl and experiment.html; ``phase_names`` gives
    each run's phases for the progress line."""
    exp, outcome = experiment, RunOutcome()
    started_at, started = time.time(), time.perf_counter()
    with experiment_lock(exp.directory):
        for run in exp.runs:
            text = dump_run_config(run)
            path = config_path(exp, run)
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                write_text_atomic(path, text)
        pending: list[PlannedRun] = []
        skipped: list[PlannedRun] = []
        for run in exp.runs:
            (skipped if is_done(exp, run) else pending).append(run)
        finished = {r.name for r in exp.runs} - {r.name for r in pending}
        if skipped:
            logger.info("skipped %d finished run(s): %s", len(skipped), ", ".join(r.name for r in skipped))
        outcome.skipped = [r.name for r in skipped]
        scheduler = _Scheduler(exp, min(exp.spec.jobs, max(1, len(pending))))
        handler = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        last_status, last_counts = 0.0, None
        try:
            while pending or scheduler.running:
                counts = (len(finished), len(scheduler.running), len(pending))
                if scheduler.running and (counts != last_counts or time.perf_counter() - last_status >= STATUS_SECONDS):
                    _report_progress(exp, scheduler, finished, pending, phase_names)
                    last_status, last_counts = time.perf_counter(), counts
                for name, (run, process, run_started) in list(scheduler.running.items()):
                    if process.poll() is None:
                        continue
                    del scheduler.running[name]
                    if process.returncode == 0:
                        _finish(exp, run, time.perf_counter() - run_started)
                        finished.add(name)
                        outcome.ran.append(name)
                        logger.info("%s: done in %.0fs", name, time.perf_counter() - run_started)
                        write_results(exp)
                    else:
                        outcome.failed.append(name)
                        logger.error(
                            "%s: `srd run` exited with %d (log %s)", name, process.returncode, log_path(exp, run)
                        )
                while not outcome.failed and pending and len(scheduler.running) < scheduler.jobs:
                    ready = next((r for r in pending if scheduler.ready(r, finished)), None)
                    if ready is None:
                        break
                    pending.remove(ready)
                    scheduler.start(ready)
                if outcome.failed and not scheduler.running:
                    break
                time.sleep(POLL_SECONDS)
        finally:
            scheduler.stop_all()
            signal.signal(signal.SIGTERM, handler)
            if outcome.ran or outcome.failed or scheduler.running:
                append_jsonl(
                    exp.directory / INVOCATIONS_FILE,
                    [
                        {
                            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_at)),
                            "seconds": round(time.perf_counter() - started, 1),
                            "jobs": scheduler.jobs,
                            "threads_per_job": scheduler.threads,
                            "ran": outcome.ran,
                            "failed": outcome.failed,
                            "machine": machine_description(),
                        }
                    ],
                )
        write_results(exp)
        if outcome.failed:
            first = next(r for r in exp.runs if r.name == outcome.failed[0])
            tail = _log_tail(log_path(exp, first))
            where = f"run {first.name} failed; see {log_path(exp, first)}"
            raise ExperimentError(where + (f": {tail}" if tail else ""))
    return outcome


def _log_tail(path: Path) -> str:
    """The run's last error line (``srd: error: ...``), if it printed one."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return next((line.strip() for line in reversed(lines) if line.startswith("srd: error:")), "")


def read_rows(directory: Path) -> list[dict]:
    """``experiment.jsonl`` of an experiment dir."""
    return read_jsonl(directory / ROWS_FILE, tolerate_torn_tail=True)
