"""The training notify-hooks: what they see, in which order, and that stage_start may re-plan later stages."""

from __future__ import annotations

import pytest
from tiny_run import make_config, make_workspace, read_rows

from srd_core import hookimpl, plugins
from srd_core.components import StagePlan
from srd_core.training.loop import train


class Recorder:
    """Records every training notification; at the first stage start it replaces stage 2's data."""

    def __init__(self, replan_to: list[str]):
        self.events: list[tuple] = []
        self.replan_to = replan_to

    @hookimpl
    def stage_start(self, context):
        self.events.append(("stage_start", context.stage, context.step, context.label, len(context.stages)))
        assert context.model is not None and context.tokenizer is not None and context.accelerator is not None
        if context.stage == 0:
            context.stages[1] = StagePlan(ids=list(self.replan_to), epochs=1.0)

    @hookimpl
    def stage_end(self, context):
        self.events.append(("stage_end", context.stage, context.step))

    @hookimpl
    def step_end(self, context, metrics):
        self.events.append(("step_end", metrics["stage"], metrics["step"], round(metrics["T"], 6)))

    @hookimpl
    def train_end(self, context, summary):
        self.events.append(("train_end", summary.steps, summary.tokens > 0))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = make_workspace(tmp_path_factory.mktemp("hooks"))
    config = make_config(root, "hooks", train={"temperature": {"name": "stagewise", "values": [1.0, 2.0]}})
    ids = [f"s{i}" for i in range(24)]
    stages = [StagePlan(ids=ids[:8], epochs=1.0), StagePlan(ids=ids[:16], epochs=1.0)]
    recorder = Recorder(replan_to=ids[:4])  # stage 2 shrinks from 16 samples (4 steps) to 4 (1 step)
    plugins.register(recorder, name="test-recorder")
    try:
        summary = train(config, config.run.dir, "srd", stages=stages)
    finally:
        plugins.unregister("test-recorder")
    return recorder.events, summary, config.run.dir / "srd"


def test_hook_stage_start(trained):
    events, summary, _ = trained
    starts = [e for e in events if e[0] == "stage_start"]
    assert starts == [("stage_start", 0, 0, "srd", 2), ("stage_start", 1, 2, "srd", 2)]
    # the re-planned stage 2 trained on 4 samples = 1 batch of 4
    assert summary.steps == 3


def test_hook_stage_end(trained):
    events, _, out = trained
    assert [e for e in events if e[0] == "stage_end"] == [("stage_end", 0, 2), ("stage_end", 1, 3)]
    assert (out / "final" / "config.json").is_file()


def test_hook_step_end(trained):
    events, _, out = trained
    steps = [e for e in events if e[0] == "step_end"]
    assert steps == [("step_end", 0, 1, 1.0), ("step_end", 0, 2, 1.0), ("step_end", 1, 3, 2.0)]
    assert [r["step"] for r in read_rows(out / "metrics.jsonl")] == [1, 2, 3]


def test_hook_train_end(trained):
    events, summary, _ = trained
    assert events[-1] == ("train_end", summary.steps, True)
    assert sum(1 for e in events if e[0] == "train_end") == 1
