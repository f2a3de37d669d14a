"""Experiment tracking: a tiny run with `train.log_with: [tensorboard]` leaves an event file with every scalar."""

from __future__ import annotations

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tiny_run import make_config, make_workspace, read_rows

from srd_core.errors import ConfigError
from srd_core.training import trackers
from srd_core.training.loop import train

TRAIN_TAGS = {
    "train/loss",
    "train/ce",
    "train/kd",
    "train/temperature",
    "train/sft_weight",
    "train/lr",
    "train/tokens_per_s",
    "train/grad_norm",
}


def test_tensorboard_event_file_holds_the_logged_scalars(tmp_path):
    ws = make_workspace(tmp_path)
    cfg = make_config(
        ws,
        "tb",
        curriculum={"pacer": {"name": "all", "epochs": 2}},
        train={"log_with": ["tensorboard"], "eval_every": 3, "log_every": 1},
    )
    summary = train(cfg, cfg.run.dir, "srd", eval_fn=lambda model, step: {"rouge_l": 10.0 + step})

    logdir = cfg.run.dir / trackers.TRACKERS_DIR / "srd"
    assert list(logdir.glob("events.out.tfevents.*")), list(cfg.run.dir.rglob("*"))
    events = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert TRAIN_TAGS | {"eval/rouge_l"} <= tags, tags
    metrics = read_rows(cfg.run.dir / "srd" / "metrics.jsonl")
    logged = {e.step: e.value for e in events.Scalars("train/loss")}
    assert sorted(logged) == [r["step"] for r in metrics] == list(range(1, summary.steps + 1))
    assert all(logged[r["step"]] == pytest.approx(r["loss"], rel=1e-5) for r in metrics)
    assert {e.step: e.value for e in events.Scalars("train/temperature")} == {r["step"]: r["T"] for r in metrics}
    evals = {e.step: e.value for e in events.Scalars("eval/rouge_l")}
    assert evals == {r["step"]: pytest.approx(r["rouge_l"]) for r in read_rows(cfg.run.dir / "srd" / "eval.jsonl")}
    assert 3 in evals and evals[3] == pytest.approx(13.0)


def test_a_tracker_that_is_not_installed_names_the_field(tmp_path, monkeypatch):
    import accelerate.utils

    monkeypatch.setattr(accelerate.utils, "is_wandb_available", lambda: False)
    cfg = make_config(tmp_path, "wb", train={"log_with": ["wandb"]})
    with pytest.raises(ConfigError, match=r"train\.log_with: wandb is not installed \(pip install wandb\)"):
        trackers.accelerator_kwargs(cfg, tmp_path)


def test_without_trackers_nothing_is_configured(tmp_path):
    assert trackers.accelerator_kwargs(make_config(tmp_path, "none"), tmp_path) == {}


def test_final_scores_reach_the_arms_tracker_runs(tmp_path):
    """After the final evaluation each arm's run gets final/rouge_l at its last step, with the references."""
    import json

    cfg = make_config(tmp_path, "final", train={"log_with": ["tensorboard"]})  # eval_every 0: no evals in training
    run_dir = cfg.run.dir
    for arm, steps in (("srd", 12), ("baseline", 20)):
        (run_dir / arm).mkdir(parents=True)
        (run_dir / arm / "summary.json").write_text(json.dumps({"steps": steps}))
    rows = [
        {"model": "teacher", "score": 80.0},
        {"model": "student_init", "score": 10.0},
        {"model": "srd", "score": 31.5},
        {"model": "baseline", "score": 70.25},
    ]
    assert trackers.log_final_scores(cfg, run_dir, rows) == ["srd", "baseline"]
    for arm, steps, score in (("srd", 12, 31.5), ("baseline", 20, 70.25)):
        events = EventAccumulator(str(run_dir / trackers.TRACKERS_DIR / arm), size_guidance={"scalars": 0})
        events.Reload()
        assert set(events.Tags()["scalars"]) == {
            "final/rouge_l",
            "final/teacher_rouge_l",
            "final/initial_student_rouge_l",
        }
        assert [(e.step, e.value) for e in events.Scalars("final/rouge_l")] == [(steps, pytest.approx(score))]
        assert events.Scalars("final/teacher_rouge_l")[0].value == pytest.approx(80.0)
    assert trackers.log_final_scores(make_config(tmp_path, "none"), run_dir, rows) == []  # no trackers: nothing
