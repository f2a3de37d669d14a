"""What each single-phase command prints from what its phases' work returned (srd_core.pipeline.commands)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import yaml
from paths import REPO

from srd_core.config import config_from_dict
from srd_core.models.prepare import PrepareResult
from srd_core.pipeline import commands
from srd_core.pipeline.commands import Ran
from srd_core.rundir import CURATION_META_FILE, PREPARE_MANIFEST_FILE, PREPARED_DIR


def _demo(tmp_path: Path, **run):
    raw = yaml.safe_load((REPO / "examples" / "demo.yaml").read_text())
    raw["run"] = {**raw.get("run", {}), "output_dir": str(tmp_path), "name": "lines", **run}
    return config_from_dict(raw)


def test_prepare_says_which_of_its_four_cases_happened(tmp_path):
    config = _demo(tmp_path)
    prepared = config.run.dir / PREPARED_DIR
    assert commands.PREPARE.lines(config, [Ran("prepare", "off", None)]) == [
        "prepare: no preset models in this config; nothing to do"
    ]
    prepared.mkdir(parents=True)
    (prepared / PREPARE_MANIFEST_FILE).write_text("{}")
    assert commands.PREPARE.lines(config, [Ran("prepare", "off", None)]) == [
        f"prepare: {prepared} is complete; skipped"
    ]
    skipped = PrepareResult(prepared, "k1", skipped=True)
    assert commands.PREPARE.lines(config, [Ran("prepare", "complete", skipped)]) == [
        f"prepare: {prepared} is up to date (key k1); skipped"
    ]
    manifest = {
        "seconds": 12.4,
        "models": {
            "teacher": {"parameters": 1234567, "sft": {"seconds": 7.2}},
            "student": {"parameters": 89012, "sft": {"seconds": 3.9}},
        },
    }
    wrote = PrepareResult(prepared, "k2", skipped=False, manifest=manifest)
    assert commands.PREPARE.lines(config, [Ran("prepare", "todo", wrote)]) == [
        f"prepare: wrote {prepared} (teacher 1,234,567 params, SFT 7s; student 89,012 params, SFT 4s; 12s)"
    ]


def test_curate_names_each_arm_curation_then_the_summary(tmp_path):
    config = _demo(tmp_path)
    config.run.dir.mkdir(parents=True)
    summary = {"total": 10, "kept": 8, "binned": 8, "bin_sizes": [3, 5], "vetoed": 2}
    (config.run.dir / CURATION_META_FILE).write_text(json.dumps({"summary": summary}))
    own = [name for name in config.arms or {} if name == "srd_stratified"]
    assert own, "demo.yaml's stratified arm curates on its own"
    ran = [Ran("curate", "complete", []), *(Ran(f"curate_{arm}", "todo", []) for arm in own)]
    assert commands.CURATE.lines(config, ran) == [
        f"curation of arm srd_stratified: -> {config.run.dir / 'curation-srd_stratified' / 'curation.jsonl'}",
        f"curation: kept 8 of 10, 2 vetoed by plugins; 8 in bins 3/5 -> {config.run.dir / 'curation.jsonl'}",
    ]


def test_train_and_evaluate_lines(tmp_path):
    config = _demo(tmp_path)
    summary = SimpleNamespace(steps=9, stages=3, tokens=12345, wall_time=4.4, resumed_from_step=6, final_dir="F")
    assert commands.TRAIN.lines(config, [Ran("train_baseline", "todo", summary)]) == [
        "baseline: 9 steps in 3 stages, 12,345 tokens, 4s, resumed at step 6 -> F"
    ]
    result = SimpleNamespace(score=51.234, sd=1.5, protocol="distillm", n=40, per_family={"copy": 80.0})
    assert commands.EVALUATE.lines(config, [Ran("evaluate_srd", "todo", ("srd", result))]) == [
        "srd: ROUGE-L 51.23 ± 1.50 on 40 samples (distillm)",
        "  copy          80.00",
    ]


def test_a_choice_maps_values_and_phase_suffixes_both_ways():
    choice = commands.EVALUATE.choice
    assert choice is not None
    assert choice.suffix("student") == "student_init" and choice.value("student_init") == "student"
    assert choice.suffix("srd") == "srd" and choice.value("teacher") == "teacher"
    assert commands.command_line(commands.EVALUATE, "student_init") == "evaluate CONFIG"
    assert commands.command_line(commands.TRAIN, "kd_equal") == "train CONFIG --label kd_equal"
    assert commands.command_line(commands.REFLECT) == "reflect CONFIG"
