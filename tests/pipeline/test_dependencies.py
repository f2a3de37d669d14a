"""The dependency rule with real `srd` processes: each edited input recomputes exactly what reads it.

One finished tiny run is copied per test (``rerun_helpers``); the test edits one input and checks
the printed reason, which phases ran, and the content hashes of every model and artifact.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time

import pytest
import yaml
from rerun_helpers import (
    ENV,
    SRD,
    copy_workspace,
    edited,
    eval_rows,
    hashes,
    make_base,
    phase_lines,
    srd,
    tree_hash,
)

RUN = "runs/base"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    workspace = make_base(tmp_path_factory.mktemp("deps") / "base")
    return workspace, hashes(workspace / RUN)


def rerun(base, tmp_path, name: str, **changes):
    """Copy the base workspace, apply ``changes`` to its config, `srd run` it; (run dir, output, old hashes)."""
    source, before = base
    workspace = copy_workspace(source, tmp_path / name)
    edited(workspace, **changes)
    done = srd(workspace, "run", "config.yaml")
    assert done.returncode == 0, done.stdout[-3000:]
    return workspace / RUN, done.stdout, before


def changed(before, after) -> set[str]:
    return {k for k in before if before[k] != after[k]}


def test_an_srd_only_training_field_retrains_srd_only(base, tmp_path):
    run_dir, out, before = rerun(
        base, tmp_path, "sft", train__sft_weight={"name": "stagewise", "values": [0.5, 0.2, 0.1]}
    )
    assert "train_srd: stale (train.sft_weight.values [0.3, 0.2, 0.1] → [0.5, 0.2, 0.1]); retraining" in out
    assert "evaluate_srd: stale (srd model changed); re-evaluating" in out
    assert "train_baseline: stale" not in out and "evaluate_baseline: stale" not in out
    assert phase_lines(out) == {
        "prepare": "skipped",
        "reflect": "skipped",
        "curate": "skipped",
        "train_srd": "ran",
        "train_baseline": "skipped",
        "evaluate": "ran",
        "report": "ran",
    }
    assert changed(before, hashes(run_dir)) == {"srd"}
    assert tree_hash(run_dir / ".stale" / "train_srd" / "srd" / "final") == before["srd"]  # the old one, kept
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["sft_weight"]["values"] == [0.5, 0.2, 0.1]


def test_the_selector_recomputes_curation_and_retrains_srd_not_the_baseline(base, tmp_path):
    # 48 samples: keeping 33 instead of 36 changes every bin, not SRD's 10 steps the baseline matches
    run_dir, out, before = rerun(base, tmp_path, "ratio", curriculum__selector={"name": "fixed_ratio", "ratio": 0.7})
    assert "curate: stale (curriculum.selector.ratio 0.75 → 0.7); recomputing" in out
    assert "train_srd: stale (curation.jsonl changed); retraining" in out
    assert "train_baseline: stale" not in out
    assert changed(before, hashes(run_dir)) == {"curation", "srd"}
    kept = [json.loads(line)["kept"] for line in (run_dir / "curation.jsonl").read_text().splitlines()]
    assert sum(kept) == 33


def test_new_data_file_contents_recompute_from_the_first_phase_that_reads_them(base, tmp_path):
    source, before = base
    workspace = copy_workspace(source, tmp_path / "data")
    train_file = workspace / "data" / "train.jsonl"
    rows = [json.loads(line) for line in train_file.read_text().splitlines()]
    rows[0]["output"] += " again"
    train_file.write_text("".join(json.dumps(r) + "\n" for r in rows))  # same path, same config
    done = srd(workspace, "run", "config.yaml")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "prepare: stale (data file data.train.train changed); preparing again" in done.stdout
    assert set(phase_lines(done.stdout).values()) == {"ran"}
    assert changed(before, hashes(workspace / RUN)) == set(before)


def test_a_new_prepared_teacher_retrains_both_students_and_reevaluates(base, tmp_path):
    teacher_sft = {"steps": 15, "batch_size": 16, "lr": 3e-3}
    run_dir, out, before = rerun(
        base,
        tmp_path,
        "teacher",
        prepare={
            "vocab_size": 300,
            "teacher_sft": teacher_sft,
            "student_sft": {"steps": 3, "batch_size": 16, "lr": 3e-3},
        },
    )
    assert "prepare: stale (prepare.teacher_sft.steps 20 → 15); preparing again" in out
    for label in ("srd", "baseline"):
        assert f"train_{label}: stale (teacher model changed); retraining" in out
        assert f"evaluate_{label}: stale ({label} model changed); re-evaluating" in out
    assert "evaluate_teacher: stale (teacher model changed); re-evaluating" in out
    # the student's warm start did not change (same seed, same tokenizer), so neither did its reflection
    assert changed(before, hashes(run_dir)) == {"teacher", "srd", "baseline"}
    assert phase_lines(out)["reflect"] == "skipped" and phase_lines(out)["curate"] == "skipped"
    assert "evaluate_student_init: stale" not in out


def test_eval_settings_reevaluate_only_and_the_report_follows(base, tmp_path):
    run_dir, out, before = rerun(
        base, tmp_path, "eval", eval={"protocol": "greedy", "max_new_tokens": 6, "batch_size": 16}
    )
    for label in ("teacher", "student_init", "srd", "baseline"):
        assert f"evaluate_{label}: stale (eval.max_new_tokens 8 → 6); re-evaluating" in out
    assert "report: outdated (after evaluate_teacher, which is stale (eval.max_new_tokens 8 → 6)); set aside" in out
    lines = phase_lines(out)
    assert [k for k, v in lines.items() if v == "ran"] == ["evaluate", "report"]
    assert changed(before, hashes(run_dir)) == set()
    # the report and config.yaml come from the artifacts on disk
    record = json.loads((run_dir / "provenance" / "report.json").read_text())
    assert record["state"] == "complete"
    assert record["inputs"]["file eval.jsonl"] == hashlib.sha256((run_dir / "eval.jsonl").read_bytes()).hexdigest()
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["eval"]["max_new_tokens"] == 6
    html = (run_dir / "report.html").read_text()
    for row in eval_rows(run_dir).values():
        assert f"{row['score']:.2f}" in html or f"{row['score']:.1f}" in html


def test_every_command_follows_the_same_rule(base, tmp_path):
    source, before = base
    workspace = copy_workspace(source, tmp_path / "cmds")
    run_dir = workspace / RUN
    trained = srd(workspace, "train", "config.yaml", "--set", "train.lr=0.05")
    assert trained.returncode == 0, trained.stdout[-3000:]
    assert "train_srd: stale (train.lr 0.001 → 0.05); retraining" in trained.stdout
    assert changed(before, hashes(run_dir)) == {"srd"}
    # srd run agrees with srd train: SRD is done, the baseline read the same field, SRD's score is outdated
    plan = srd(workspace, "run", "config.yaml", "--dry-run", "--set", "train.lr=0.05")
    assert plan.returncode == 0, plan.stdout[-3000:]
    status = dict(line.split(None, 1) for line in plan.stdout.split("phase status in")[1].splitlines()[1:])
    assert status["train_srd"] == "complete"
    assert status["train_baseline"] == "stale (train.lr 0.001 → 0.05)"
    assert status["evaluate_srd"] == "stale (srd model changed)"
    assert status["prepare"] == status["evaluate_teacher"] == "complete"
    assert not run_dir.joinpath("config.yaml").exists()  # it described the old SRD model: set aside
    assert (run_dir / ".stale" / "config.yaml").is_file()
    assert not (run_dir / "report.html").exists()  # it showed the old SRD model: set aside too
    assert (run_dir / ".stale" / "report" / "report.html").is_file()
    # the report is never built from a score of another model
    report = srd(workspace, "report", RUN)
    assert report.returncode == 2
    assert "evaluate_srd was made from another srd model" in report.stdout and "Traceback" not in report.stdout
    evaluated = srd(workspace, "evaluate", "config.yaml", "--model", "srd", "--set", "train.lr=0.05")
    assert evaluated.returncode == 0, evaluated.stdout[-3000:]
    assert "evaluate_srd: stale (srd model changed); re-evaluating" in evaluated.stdout
    # without the override, `srd train` now finds SRD stale the other way round, as srd run would
    plan = srd(workspace, "run", "config.yaml", "--dry-run")
    assert "train_srd              stale (train.lr 0.05 → 0.001)" in plan.stdout


def test_two_concurrent_runs_on_one_run_dir(base, tmp_path):
    source, _ = base
    workspace = copy_workspace(source, tmp_path / "lock")
    edited(workspace, train__lr=0.05)  # both students retrain: the first run has work to do
    run_dir = workspace / RUN
    (run_dir / ".lock").write_text("")
    first = subprocess.Popen(
        [SRD, "run", "config.yaml"], cwd=workspace, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / ".lock").read_text().strip():  # the first run holds the lock
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        # Hold the first run where it is (lock taken, work under way): a tiny run could otherwise finish
        # before the second one has even imported torch on a loaded machine, and the race would prove nothing.
        os.kill(first.pid, signal.SIGSTOP)
        try:
            start = time.monotonic()
            second = srd(workspace, "run", "config.yaml", timeout=120)
            elapsed = time.monotonic() - start
        finally:
            os.kill(first.pid, signal.SIGCONT)
        out, _ = first.communicate(timeout=600)
    finally:
        first.kill()
    assert second.returncode == 2
    lines = second.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"srd: error: {RUN}: in use by pid {first.pid} (started ")
    assert elapsed < 30  # at once: refused before loading any model (the time is mostly Python start-up)
    assert first.returncode == 0, out[-3000:]
    for label in ("srd", "baseline"):
        steps = [json.loads(line)["step"] for line in (run_dir / label / "metrics.jsonl").read_text().splitlines()]
        assert steps == list(range(1, len(steps) + 1)) and len(steps) == 10


def test_cadence_and_logging_fields_recompute_nothing(base, tmp_path):
    """Turning on TensorBoard or another checkpoint cadence for a finished run costs nothing."""
    source, before = base
    config = yaml.safe_load((source / "config.yaml").read_text())
    train = {
        **config["train"],
        "checkpoint_minutes": 5,
        "checkpoint_every": 3,
        "keep_checkpoints": 4,
        "log_every": 2,
        "eval_every": 4,
        "log_with": ["tensorboard"],
    }
    run_dir, out, before = rerun(base, tmp_path, "cadence", train=train)
    assert "stale" not in out, out
    for phase in ("prepare", "reflect", "curate", "train_srd", "train_baseline", "evaluate", "report"):
        assert f"{phase}: skipped (complete)" in out, out
    assert changed(before, hashes(run_dir)) == set()
