"""`srd experiment`'s progress line: runs done / running / left, the ETA, each running run's phase and step."""

from __future__ import annotations

import json

import pytest
import yaml
from paths import REPO

from srd_core.config import config_from_dict
from srd_core.experiment.progress import Progress, finished_seconds, run_activity
from srd_core.pipeline.phases import phase_names


def _phases(arms: bool) -> list[str]:
    """The phases of the demo config, with its four arms or (``arms=False``) the default two."""
    raw = yaml.safe_load((REPO / "examples" / "demo.yaml").read_text())
    if not arms:
        raw.pop("arms")
    return phase_names(config_from_dict(raw))


def _record(run_dir, *phases, state="complete"):
    (run_dir / "provenance").mkdir(parents=True, exist_ok=True)
    for phase in phases:
        (run_dir / "provenance" / f"{phase}.json").write_text(json.dumps({"phase": phase, "state": state}))


def test_activity_follows_the_recorded_phases_and_the_training_steps(tmp_path):
    run, phases = tmp_path / "run", _phases(arms=False)
    assert "teacher_cache" not in phases  # an online teacher: no cache phase to wait for
    run.mkdir()
    assert run_activity(run, phases) == "prepare"
    _record(run, "prepare")
    assert run_activity(run, phases) == "reflect"
    _record(run, "reflect", "curate")
    assert run_activity(run, phases) == "train_srd"  # no metrics logged yet
    (run / "srd").mkdir()
    rows = [{"step": 10, "stage": 0}, {"step": 20, "stage": 1}]
    (run / "srd" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 3')  # torn
    assert run_activity(run, phases) == "train_srd step 20 (stage 2)"
    (run / "baseline").mkdir()
    (run / "baseline" / "metrics.jsonl").write_text(json.dumps({"step": 30, "stage": 0}) + "\n")
    # arms in parallel
    assert run_activity(run, phases) == "train_srd step 20 (stage 2), train_baseline step 30 (stage 1)"
    _record(run, "train_srd", "train_baseline", "evaluate_teacher")
    assert run_activity(run, phases) == "evaluate"


def test_eta_from_the_finished_runs():
    waiting = Progress(done=0, running={"a": 10.0, "b": 12.0}, left=4, durations=[], jobs=2)
    assert waiting.eta_seconds() is None
    assert waiting.line() == "0 done, 2 running, 4 left; ETA once the first run has finished"
    # 2 finished in 100 s and 140 s (mean 120): 3 left at 120 s, the running ones need 120-30 and 0 more
    progress = Progress(done=2, running={"a": 30.0, "b": 200.0}, left=3, durations=[100.0, 140.0], jobs=2)
    assert progress.eta_seconds() == pytest.approx((3 * 120 + 90) / 2)
    last = Progress(done=4, running={"a": 100.0}, left=0, durations=[120.0], jobs=2)
    assert last.eta_seconds() == pytest.approx(20.0)  # one run left: the second job does not halve it
    assert progress.line({"a": "reflect", "b": "train_srd step 4 (stage 1)"}) == (
        "2 done, 2 running, 3 left; ETA 3.8 min (a run takes 2.0 min); a: reflect; b: train_srd step 4 (stage 1)"
    )


def test_finished_seconds_reads_the_done_markers(tmp_path):
    good, bad, missing = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    good.write_text(json.dumps({"seconds": 42.5}))
    bad.write_text("{not json")
    assert finished_seconds([good, bad, missing]) == [42.5]


def test_activity_names_every_arm_of_an_arms_section(tmp_path):
    run, phases = tmp_path / "run", _phases(arms=True)
    run.mkdir()
    _record(run, "prepare", "reflect", "curate", "curate_srd_stratified", "train_srd", "train_baseline")
    _record(run, "train_kd_equal", "train_srd_stratified", state="started")  # opened: a record before the work
    for arm, step in (("srd", 5), ("baseline", 7), ("kd_equal", 12), ("srd_stratified", 9)):
        (run / arm).mkdir()
        (run / arm / "metrics.jsonl").write_text(json.dumps({"step": step, "stage": 0}) + "\n")
    # srd and baseline finished; the two other arms still train (before, this read "evaluate")
    # in the order the run trains them (the arms section's)
    assert run_activity(run, phases) == "train_srd_stratified step 9 (stage 1), train_kd_equal step 12 (stage 1)"
    _record(run, "train_kd_equal", "train_srd_stratified")
    assert run_activity(run, phases) == "evaluate"
