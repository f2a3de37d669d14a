"""Arms as data, end to end: a three-arm tiny run (official SRD, SRD with its own curriculum, plain KD at SRD's
step count) trained in parallel, its artifacts, report and FLOPs; staleness per arm; the dry run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from rerun_helpers import base_config, srd, write_config, write_data

from srd_core.config import load_config
from srd_core.pipeline.planner import Planner

ARMS = {
    "srd": {},
    "srd_half": {"curriculum": {"selector": {"name": "fixed_ratio", "ratio": 0.5}}},
    "kd_equal": {"like": "baseline", "match_steps_of": "srd"},
}


def arms_config(**kd_equal) -> dict:
    config = base_config()
    config["run"].update(name="arms", parallel_arms=True)
    config["train"]["eval_every"] = 3
    config["baseline"]["match_srd_steps"] = False
    config["arms"] = {**ARMS, "kd_equal": {**ARMS["kd_equal"], **kd_equal}}
    return config


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def ran(stdout: str) -> dict[str, bool]:
    """`srd run`'s summary lines: phase → whether it did work (False: skipped as complete)."""
    out = {}
    for line in stdout.splitlines():
        key, sep, value = line.strip().partition(": ")
        if sep and (key.startswith(("train_", "curate", "evaluate", "report", "reflect", "prepare"))):
            out[key] = "skipped" not in value
    return out


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("arms")
    write_data(root)
    write_config(root, arms_config())
    done = srd(root, "run", "config.yaml")
    assert done.returncode == 0, done.stdout[-3000:]
    return root, done.stdout


def test_every_arm_trains_evaluates_and_records_its_compute(workspace):
    root, stdout = workspace
    run_dir = root / "runs" / "arms"
    assert {k for k, v in ran(stdout).items() if k.startswith("train_")} == {
        "train_srd",
        "train_srd_half",
        "train_kd_equal",
    }
    summaries = {a: json.loads((run_dir / a / "summary.json").read_text()) for a in ARMS}
    assert summaries["kd_equal"]["steps"] == summaries["srd"]["steps"]  # match_steps_of: srd
    assert summaries["kd_equal"]["curated"] is False and summaries["srd_half"]["curated"] is True
    assert {r["model"] for r in rows(run_dir / "eval.jsonl")} == {"teacher", "student_init", *ARMS}
    for arm, summary in summaries.items():
        s = summary
        assert s["flops"] == 6 * s["student_params"] * s["tokens"] + 2 * s["teacher_params"] * s["teacher_tokens"]
        curve = rows(run_dir / arm / "eval.jsonl")
        assert curve and all(r["flops"] <= s["flops"] for r in curve) and curve[-1]["flops"] == s["flops"]
    compute = json.loads((run_dir / "reflection.meta.json").read_text())["compute"]
    assert compute["flops"] == 2 * compute["student_params"] * (compute["generation_tokens"] + compute["ce_tokens"])


def test_an_arm_with_its_own_curriculum_gets_its_own_curation(workspace):
    root, _ = workspace
    run_dir = root / "runs" / "arms"
    official = rows(run_dir / "curation.jsonl")
    own = rows(run_dir / "curation-srd_half" / "curation.jsonl")
    assert sum(r["kept"] for r in official) == 36 and sum(r["kept"] for r in own) == 24  # 0.75 and 0.5 of 48
    assert (run_dir / "provenance" / "curate_srd_half.json").is_file()
    for phase in ("train_srd", "train_srd_half", "train_kd_equal", "evaluate_srd_half", "evaluate_kd_equal"):
        assert json.loads((run_dir / "provenance" / f"{phase}.json").read_text())["state"] == "complete"
    assert not (run_dir / "baseline").exists()  # not an arm of this run


def test_the_report_compares_each_curated_arm_with_each_reference_arm(workspace):
    root, _ = workspace
    run_dir = root / "runs" / "arms"
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "SRD vs kd_equal: equal steps and time to quality" in page
    assert "srd_half vs kd_equal: equal steps and time to quality" in page
    assert 'id="cmp-ttq-srd_half-kd_equal"' in page and "training compute (FLOPs)" in page
    timings = json.loads((run_dir / "timings.json").read_text())
    assert sorted(timings["parallel"]["phases"]) == ["train_kd_equal", "train_srd", "train_srd_half"]
    assert "the 3 arms trained at once" in page
    parallel = timings["parallel"]["seconds"]
    assert parallel < timings["train_srd"] + timings["train_srd_half"] + timings["train_kd_equal"]


def test_changing_one_arm_retrains_only_that_arm(workspace, tmp_path, monkeypatch):
    root, _ = workspace
    copy = shutil.copytree(root, tmp_path / "copy", symlinks=True)
    write_config(copy, arms_config(sft_weight={"name": "constant", "value": 0.5}))
    monkeypatch.chdir(copy)  # the config's paths are relative to the workspace
    config = load_config(Path("config.yaml"))
    statuses = {s.phase: s for s in Planner(config, config.run.dir).all()}
    assert statuses["train_kd_equal"].state == "stale"
    assert "arms.kd_equal.sft_weight" in statuses["train_kd_equal"].reason
    for phase in ("curate", "curate_srd_half", "train_srd", "train_srd_half", "evaluate_srd", "evaluate_srd_half"):
        assert statuses[phase].state == "complete", (phase, statuses[phase].describe())
    rerun = srd(copy, "run", "config.yaml")
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    did = ran(rerun.stdout)
    assert did["train_kd_equal"] and not did["train_srd"] and not did["train_srd_half"]


def test_the_dry_run_lists_every_arm(workspace):
    root, _ = workspace
    out = srd(root, "run", "config.yaml", "--dry-run")
    assert out.returncode == 0, out.stdout[-3000:]
    text = out.stdout
    for line in (
        "train srd ",
        "train srd_half ",
        "train kd_equal ",
        "curation srd_half",
        "kd_equal training (pacer all): match_steps_of: as many optimizer steps as srd",
        "srd vs kd_equal",
        "srd_half vs kd_equal",
    ):
        assert line in text, line
    for phase in ("train_srd_half", "curate_srd_half", "evaluate_kd_equal"):
        assert f"  {phase}" in text and "complete" in text.split(f"  {phase}")[1].splitlines()[0]
