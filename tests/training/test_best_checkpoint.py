"""train.select_best: dev points, selection (ties keep the earlier), the next stage starts from the best."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from tiny_run import make_config, make_workspace, read_rows, write_curation

from srd_core.data.dev_split import dev_source, load_dev_samples
from srd_core.errors import ConfigError
from srd_core.training import loop
from srd_core.training.best_checkpoint import dev_points, is_better
from srd_core.training.loop import train

IDS = [f"s{i}" for i in range(24)]
BABY = {"pacer": {"name": "baby_step", "num_bins": 3, "epochs_per_stage": 2}}  # stages of 4, 6, 10 steps


def _eval_data(ws) -> dict:
    """data.eval set: data.train's eval split may then serve as the dev split."""
    return {"eval": {"name": "jsonl", "eval": str(ws / "train.jsonl"), "id_field": "id", "template": "{instruction}"}}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("ws"))


def test_dev_points():
    assert dev_points(10, 5) == [5, 10]  # each epoch end
    assert dev_points(7, 3) == [3, 6, 7]  # the stage's last step always
    assert dev_points(10, 5, every=4) == [4, 8, 10]
    assert dev_points(0, 3) == []


def test_ties_keep_the_earlier_checkpoint():
    assert is_better(1.0, None)
    assert is_better(2.0, {"score": 1.0})
    assert not is_better(1.0, {"score": 1.0})
    assert not is_better(0.5, {"score": 1.0})


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_each_stage_keeps_its_best_and_the_next_starts_from_it(ws, monkeypatch):
    scores = iter(
        [
            50.0,
            40.0,  # stage 1 (steps 2, 4): the first point is best -> restored
            30.0,
            30.0,  # stage 2 (steps 7, 10): a tie keeps step 7
            10.0,
            60.0,
        ]
    )  # stage 3 (steps 15, 20): the last point is best
    seen: dict[int, dict[str, torch.Tensor]] = {}
    step_of_call = iter([2, 4, 7, 10, 15, 20])

    def fake_dev_fn(config, run_dir, tokenizer):
        def score(model):
            seen[next(step_of_call)] = _weights(model)
            return next(scores)

        return score

    monkeypatch.setattr(loop, "dev_rouge_fn", fake_dev_fn)
    run_dir = ws / "best"
    write_curation(run_dir, IDS)
    cfg = make_config(
        ws,
        "best",
        curriculum=BABY,
        data=_eval_data(ws),
        train={"select_best": {"enabled": True}, "keep_checkpoints": 3},
    )
    starts = {}

    from srd_core.hookspecs import hookimpl
    from srd_core.plugins import register, unregister

    class Watch:
        @hookimpl
        def stage_start(self, context):
            starts[context.stage] = _weights(context.model)

    watcher = Watch()
    register(watcher)
    try:
        summary = train(cfg, run_dir, "srd")
    finally:
        unregister(watcher)

    assert summary.stage_steps == [4, 6, 10]
    out = run_dir / "srd"
    rows = read_rows(out / "dev_eval.jsonl")
    assert [(r["stage"], r["step"], r["rouge_l"], r["best"]) for r in rows] == [
        (0, 2, 50.0, True),
        (0, 4, 40.0, False),
        (1, 7, 30.0, True),
        (1, 10, 30.0, False),
        (2, 15, 10.0, True),
        (2, 20, 60.0, True),
    ]
    chosen = json.loads((out / "best_checkpoints.json").read_text())
    assert {k: (v["step"], v["last_step"]) for k, v in chosen.items()} == {"0": (2, 4), "1": (7, 10), "2": (20, 20)}

    def same(a, b):
        return all(torch.equal(a[k], b[k]) for k in a)

    assert same(starts[1], seen[2]) and not same(starts[1], seen[4])  # stage 2 started from step 2's weights
    assert same(starts[2], seen[7]) and not same(starts[2], seen[10])
    final = load_file(out / "final" / "model.safetensors")
    assert all(torch.equal(final[k], seen[20][k]) for k in final)
    stage_end = load_file(out / "checkpoints" / "step-0000010" / "model.safetensors")
    assert all(torch.equal(stage_end[k], seen[7][k]) for k in stage_end)  # what a resumed run continues from


def test_selection_changes_the_trained_model(ws, monkeypatch):
    """Against the same run without selection, restoring an earlier point gives other final weights."""

    def fake_dev_fn(config, run_dir, tokenizer):
        return lambda model: 100.0  # every point ties: each stage keeps its first epoch

    monkeypatch.setattr(loop, "dev_rouge_fn", fake_dev_fn)
    finals = {}
    for name, enabled in (("sel-on", True), ("sel-off", False)):
        write_curation(ws / name, IDS)
        cfg = make_config(ws, name, curriculum=BABY, data=_eval_data(ws), train={"select_best": {"enabled": enabled}})
        train(cfg, ws / name, "srd")
        finals[name] = load_file(ws / name / "srd" / "final" / "model.safetensors")
    assert any(not torch.equal(finals["sel-on"][k], finals["sel-off"][k]) for k in finals["sel-on"])
    assert not (ws / "sel-off" / "srd" / "dev_eval.jsonl").exists()


def _dev_config(ws, name, log_with=(), **data):
    train_spec = {
        "name": "jsonl",
        "train": str(ws / "train.jsonl"),
        "id_field": "id",
        "template": "{instruction}",
        "dev_size": 4,
    }
    return make_config(
        ws,
        name,
        data={"train": train_spec, **data},
        curriculum=BABY,
        train={"select_best": {"enabled": True, "every": 3, "max_samples": 3}, "log_with": list(log_with)},
    )


def test_dev_split_sources(ws):
    eval_spec = {"name": "jsonl", "eval": str(ws / "train.jsonl"), "id_field": "id", "template": "{instruction}"}
    held_out = _dev_config(ws, "dev1", eval=eval_spec)
    spec, where = dev_source(held_out)
    assert where == "data.train" and spec == held_out.data.train
    assert [s.id for s in load_dev_samples(held_out)] == ["s0", "s1", "s2", "s3"]  # the dev_size slice
    assert [s.id for s in load_dev_samples(held_out, 2)] == ["s0", "s1"]
    dev_spec = {"name": "jsonl", "eval": str(ws / "train.jsonl"), "id_field": "id", "template": "{instruction}"}
    explicit = _dev_config(ws, "dev2", dev=dev_spec)
    assert dev_source(explicit)[1] == "data.dev" and len(load_dev_samples(explicit)) == 24
    with pytest.raises(ConfigError, match="no dev split distinct from the final eval set"):
        dev_source(_dev_config(ws, "dev3"))


def test_real_dev_rouge_during_training(ws):
    eval_spec = {"name": "jsonl", "eval": str(ws / "train.jsonl"), "id_field": "id", "template": "{instruction}"}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = _dev_config(ws, "dev-real", log_with=["tensorboard"], eval=eval_spec)
    ids = [f"s{i}" for i in range(4, 24)]
    write_curation(ws / "dev-real", ids)  # 15 kept, bins of 5: stages of 2, 3, 4 steps x 2 epochs
    summary = train(cfg, ws / "dev-real", "srd")
    rows = read_rows(ws / "dev-real" / "srd" / "dev_eval.jsonl")
    events = EventAccumulator(str(ws / "dev-real" / "trackers" / "srd"), size_guidance={"scalars": 0})
    events.Reload()  # every dev evaluation reached the tracker too
    assert {e.step: e.value for e in events.Scalars("dev/rouge_l")} == {
        r["step"]: pytest.approx(r["rouge_l"]) for r in rows
    }
    ends = [sum(summary.stage_steps[: k + 1]) for k in range(3)]
    assert {r["step"] for r in rows} >= set(ends)
    assert all(0.0 <= r["rouge_l"] <= 100.0 for r in rows)
    chosen = json.loads((ws / "dev-real" / "srd" / "best_checkpoints.json").read_text())
    for stage, pick in chosen.items():
        stage_rows = [r for r in rows if r["stage"] == int(stage)]
        assert pick["score"] == max(r["rouge_l"] for r in stage_rows)
        assert pick["step"] == next(r["step"] for r in stage_rows if r["rouge_l"] == pick["score"])


def test_select_best_without_a_dev_split_is_one_line_exit_2(ws):
    import yaml
    from click.testing import CliRunner
    from tiny_run import raw_config

    from srd_core.cli import cli

    path = ws / "nodev.yaml"
    path.write_text(yaml.safe_dump(raw_config(ws, "nodev", train={"select_best": {"enabled": True}})))
    result = CliRunner().invoke(cli, ["config", "validate", str(path)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"srd: error: {path}: train.select_best.enabled: no dev split distinct from the final eval set; set data.dev "
        "(a task whose eval split is the dev set), or data.eval (then data.train's eval split is the dev set)"
    ]


@pytest.mark.slow
def test_resume_after_a_kill_selects_as_an_uninterrupted_run(ws, tmp_path):
    """Killed after a dev point past the last checkpoint (a stale best.json on disk), then resumed."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from paths import TRAIN_WORKER
    from tiny_run import write_config

    from srd_core.config import load_config

    train_spec = {
        "name": "jsonl",
        "train": str(ws / "train.jsonl"),
        "id_field": "id",
        "template": "{instruction}",
        "dev_size": 4,
    }
    sections = {
        "data": {"train": train_spec, **_eval_data(ws)},
        "curriculum": BABY,
        "train": {"select_best": {"enabled": True, "max_samples": 4}, "checkpoint_every": 4},
    }
    configs = {}
    for name in ("sel-full", "sel-killed"):
        write_curation(ws / name, [f"s{i}" for i in range(4, 24)])  # stages of 4, 6, 8 steps
        configs[name] = write_config(ws, name, **sections)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "SRD_LOAD_PLUGINS": ""}
    marker = tmp_path / "paused"
    killed = subprocess.Popen(
        [sys.executable, str(TRAIN_WORKER), str(configs["sel-killed"]), "--pause-at", "15", str(marker)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(load_config(configs["sel-full"]), ws / "sel-full", "srd")
    finally:
        torch.set_num_threads(before)
    deadline = time.time() + 180
    while not marker.exists():
        assert killed.poll() is None, killed.communicate()[0]
        assert time.time() < deadline, "the run never reached the pause"
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    out_dir = ws / "sel-killed" / "srd"
    assert json.loads((out_dir / "best" / "stage-2" / "best.json").read_text())["step"] == 14  # past step 12
    resumed = subprocess.run(
        [sys.executable, str(TRAIN_WORKER), str(configs["sel-killed"])],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed_from_step=12" in resumed.stdout

    def rows(name):
        found = read_rows(ws / name / "srd" / "dev_eval.jsonl")
        return [{k: v for k, v in r.items() if k != "wall_time"} for r in found]

    assert rows("sel-killed") == rows("sel-full")
    assert [r["step"] for r in rows("sel-full")] == [2, 4, 7, 10, 14, 18]

    def chosen(name):
        return json.loads((ws / name / "srd" / "best_checkpoints.json").read_text())

    assert chosen("sel-killed") == chosen("sel-full")
    a = load_file(ws / "sel-full" / "srd" / "final" / "model.safetensors")
    b = load_file(out_dir / "final" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
