"""`srd experiment` end to end on a micro config (2 variants × 2 seeds): killed once, resumed with --jobs 2,
then every aggregate number and interval recomputed from experiment.jsonl and the run dirs."""

from __future__ import annotations

import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from micro import write_micro_experiment
from scipy import stats

SRD = str(Path(sys.executable).parent / "srd")
VARIANTS = ("lambda-0.75", "lambda-0.5")
SEEDS = (0, 1)


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _wait_for(predicate, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    spec = write_micro_experiment(root, reference="lambda-0.75")
    directory = root / "experiments" / "micro"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started, cpu_before = time.monotonic(), _children_cpu()
    first = subprocess.Popen(
        [SRD, "experiment", str(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    second_log = directory / "logs" / "lambda-0.75-seed1.log"
    # kill everything (experiment and its `srd run`) while the second run is under way
    _wait_for(
        lambda: second_log.is_file() and (directory / "runs" / "lambda-0.75-seed1" / "config.yaml").is_file(),
        first,
        240,
    )
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate()
    done_at_kill = sorted(p.stem for p in (directory / "done").glob("*.json"))
    resumed = subprocess.run(
        [SRD, "experiment", str(spec), "--jobs", "2"],
        capture_output=True,
        text=True,
        env={**env, "OMP_NUM_THREADS": "2"},
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    table = subprocess.run([SRD, "experiment", "--table", str(directory)], capture_output=True, text=True, env=env)
    assert table.returncode == 0, table.stderr
    seconds = (time.monotonic() - started, _children_cpu() - cpu_before)
    return directory, done_at_kill, resumed, table.stdout, seconds


def _children_cpu() -> float:
    """CPU seconds of the finished subprocesses (user + system; the killed run's children are lost)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_kill_then_resume_skips_finished_runs_and_reruns_the_killed_one(experiment):
    directory, done_at_kill, resumed, _, _ = experiment
    assert done_at_kill == ["lambda-0.75-seed0"]
    assert "1 skipped" in resumed.stdout and "3 run(s) ran" in resumed.stdout
    killed_log = (directory / "logs" / "lambda-0.75-seed1.log").read_text(encoding="utf-8")
    assert killed_log.count("=== srd run") == 2  # started, killed, started again
    assert (directory / "logs" / "lambda-0.75-seed0.log").read_text().count("=== srd run") == 1
    assert sorted(p.stem for p in (directory / "done").glob("*.json")) == sorted(
        f"{v}-seed{s}" for v in VARIANTS for s in SEEDS
    )
    assert "1 threads)" in killed_log.split("=== srd run")[2]  # --jobs 2 gave each run half of OMP_NUM_THREADS=2


def test_jobs_2_runs_two_at_a_time(experiment):
    directory, *_ = experiment
    header = (directory / "logs" / "lambda-0.5-seed0.log").read_text().splitlines()[0]
    started = time.mktime(time.strptime(header.split(" (")[1].split(",")[0], "%Y-%m-%d %H:%M:%S"))
    assert started <= (directory / "done" / "lambda-0.75-seed1.json").stat().st_mtime  # began before the other ended


def test_runs_share_the_prepared_models_and_reflection(experiment):
    directory, *_ = experiment
    leader = directory / "runs" / "lambda-0.75-seed0"
    for v in VARIANTS:
        for s in SEEDS:
            run = directory / "runs" / f"{v}-seed{s}"
            if run == leader:
                assert not (run / "shared.json").exists()
                continue
            shared = json.loads((run / "shared.json").read_text())
            assert shared["prepared"] and shared["reflection"], shared
            assert shared["prepare_s"] > 0 and shared["reflect_s"] > 0  # the method's cost stays on record
            weights = next((leader / "prepared" / "student").glob("*.safetensors"))
            assert (run / "prepared" / "student" / weights.name).stat().st_ino == weights.stat().st_ino
            assert (run / "reflection.jsonl").read_bytes() == (leader / "reflection.jsonl").read_bytes()
            log = (directory / "logs" / f"{v}-seed{s}.log").read_text()
            assert "prepare: skipped (complete)" in log and "reflect: skipped (complete)" in log


def test_rows_match_the_run_dirs(experiment):
    directory, *_ = experiment
    rows = rows_of(directory / "experiment.jsonl")
    assert [(r["variant"], r["seed"]) for r in rows] == [(v, s) for v in VARIANTS for s in SEEDS]
    for r in rows:
        run = Path(r["run_dir"])
        final = {e["model"]: e.get("rouge_l", e.get("score")) for e in rows_of(run / "eval.jsonl")}
        assert (r["srd"], r["baseline"], r["teacher"]) == (final["srd"], final["baseline"], final["teacher"])
        assert r["diff"] == pytest.approx(final["srd"] - final["baseline"])
        summary = json.loads((run / "srd" / "summary.json").read_text())
        assert (r["srd_steps"], r["srd_tokens"]) == (summary["steps"], summary["tokens"])
        curve = rows_of(run / "srd" / "eval.jsonl")
        assert [p[0] for p in r["srd_curve"]] == [e["step"] for e in curve]
        reached = next((e for e in curve if e["rouge_l"] >= r["baseline"]), None)
        if reached is None:
            assert r["time_to_quality_s"] is None
        else:
            assert r["time_to_quality_s"] == pytest.approx(reached["wall_time"] + r["reflection_s"])
        assert r["baseline_steps"] == summary["steps"]  # match_srd_steps: the baseline's score at SRD's steps
        assert r["baseline_at_srd_steps"] == pytest.approx(r["baseline"])
        meta = {m["id"]: m for m in rows_of(run / "samples_meta.jsonl")}
        dropped = [c for c in rows_of(run / "curation.jsonl") if not c["kept"]]
        noisy = sum(1 for c in dropped if meta[c["id"]]["noisy"])
        assert (r["dropped"], r["noisy_dropped"]) == (len(dropped), noisy)
        assert r["noise_dropped_share"] == pytest.approx(noisy / len(dropped))
        assert r["wall_s"] > 0 and r["reflection_s"] is not None


def _interval(diffs: list[float]) -> tuple[float, float] | None:
    n, sd = len(diffs), statistics.stdev(diffs)
    if sd == 0:
        return None
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return statistics.fmean(diffs) - half, statistics.fmean(diffs) + half


def test_table_and_verdicts_recomputed_from_the_rows(experiment):
    directory, _, resumed, table, _ = experiment
    rows = rows_of(directory / "experiment.jsonl")
    lines = {
        line.split("|")[1].strip(): line
        for line in table.splitlines()
        if line.startswith("| lambda") and line.count("|") == 10
    }  # the main table, not the reference one
    for v in VARIANTS:
        members = [r for r in rows if r["variant"] == v]
        srd, base = [r["srd"] for r in members], [r["baseline"] for r in members]
        cells = [c.strip() for c in lines[v].split("|")[1:-1]]
        assert cells[2] == f"{statistics.fmean(srd):.1f} ± {statistics.stdev(srd):.1f}"
        assert cells[3] == f"{statistics.fmean(base):.1f} ± {statistics.stdev(base):.1f}"
        diffs = [a - b for a, b in zip(srd, base, strict=True)]
        interval = _interval(diffs)
        # the headline printed per variant: with two arms, the winner is named only where srd − baseline is sure
        verdict = next(line for line in resumed.stdout.splitlines() if line.strip().startswith(f"{v}: "))
        if interval is None:
            assert cells[4].startswith(f"{statistics.fmean(diffs):+.2f}") and "no clear winner" in verdict.lower()
        else:
            low, high = interval
            assert cells[4] == f"{statistics.fmean(diffs):+.2f} [{low:+.2f}, {high:+.2f}]"
            significant = low > 0 or high < 0
            assert (" wins: " in verdict) == significant
            assert ("No clear winner with 2 seeds" in verdict) == (not significant)
    assert "Student's t" in table
    ref = {r["seed"]: r["srd"] for r in rows if r["variant"] == "lambda-0.75"}
    ref_diffs = [r["srd"] - ref[r["seed"]] for r in rows if r["variant"] == "lambda-0.5"]
    ref_line = next(
        line
        for line in table.splitlines()
        if line.startswith("| lambda-0.5 | ") and "[" in line and line.count("|") == 4
    )
    assert f"{statistics.fmean(ref_diffs):+.2f}" in ref_line


def test_page_is_self_contained_with_the_plots(experiment):
    directory, *_ = experiment
    page = (directory / "experiment.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 5  # scores, differences, curves (steps, FLOPs), TTQ
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "Student&#x27;s t interval" in page and "4 of 4 runs finished" in page


def test_report_the_time_of_the_whole_experiment(experiment):
    *_, (wall, cpu) = experiment
    print(f"\nmicro experiment (2 variants x 2 seeds, killed once, resumed): {wall:.0f}s wall, {cpu:.0f}s CPU")
    assert wall > 0 and cpu > 0  # the budget (< 90 s) is reported, not asserted: tests never check timing


def test_an_invocation_lasts_at_least_as_long_as_each_of_its_runs(experiment):
    """The wall time docs/results.md quotes covers every run of the invocation, not just the last one started."""
    directory, *_ = experiment
    invocations = [json.loads(line) for line in (directory / "invocations.jsonl").read_text().splitlines() if line]
    resumed = invocations[-1]
    runs = [json.loads((directory / "done" / f"{name}.json").read_text()) for name in resumed["ran"]]
    assert len(runs) == 3 and resumed["seconds"] >= max(r["seconds"] for r in runs)
    assert resumed["seconds"] >= sum(r["seconds"] for r in runs) / resumed["jobs"] * 0.9  # jobs overlap, no more
