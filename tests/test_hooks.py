"""Each registration hook, exercised by an in-process plugin registered like a third-party one."""

from __future__ import annotations

import pytest
import torch
from pydantic import BaseModel, ConfigDict, Field

from srd_core import get_component, get_registry, hookimpl, plugins
from srd_core.components import (
    DifficultyMetric,
    Fusion,
    Grouping,
    KDLoss,
    Pacer,
    Schedule,
    Selection,
    Selector,
    StagePlan,
    Task,
)
from srd_core.errors import PluginError
from srd_core.types import ReflectionRecord, Sample


class LengthMetric(DifficultyMetric):
    """Longer answers are harder."""

    higher_is_easier = False

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        scale: float = Field(1.0, description="Multiplier.")

    def score(self, samples, reflections, model=None):
        return [self.params.scale * len(r.output) for r in reflections]


class FirstMetricFusion(Fusion):
    """Uses the first metric's rank only."""

    def fuse(self, ranks):
        return [-float(r) for r in next(iter(ranks.values()))]


class KeepTwo(Selector):
    """Keeps two samples."""

    def select(self, order, fused, values):
        return Selection(n_keep=min(2, len(order)), info={"why": "two"})


class OneStage(Pacer):
    """Everything kept, in one stage."""

    def bins(self, kept):
        return [list(kept)]

    def stages(self, bins, all_ids):
        return [StagePlan(ids=[i for b in bins for i in b], epochs=2.0)]


class StepSchedule(Schedule):
    """The step number itself."""

    def value(self, step, total, stage):
        return float(step)


class L1Loss(KDLoss):
    """Sum of absolute log-prob differences."""

    def token_loss(self, student_logp, teacher_logp):
        return (student_logp - teacher_logp).abs().sum(-1)


class TwoSamples(Task):
    """Two fixed samples."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        answer: str = Field("4", description="The answer of the first sample.")

    def load(self, split):
        return [Sample(f"{split}-0", "2+2=", [self.params.answer]), Sample(f"{split}-1", "1+1=", ["2"])]


class PromptLengthGrouping(Grouping):
    """Short or long prompts."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        cut: int = Field(4, ge=1, description="Prompts of at least this many characters are long.")

    def assign(self, samples):
        return ["long" if len(s.prompt) >= self.params.cut else "short" for s in samples]


class InProcessPlugin:
    @hookimpl
    def register_difficulty_metrics(self, register):
        register("test_length", LengthMetric)

    @hookimpl
    def register_fusions(self, register):
        register("test_first", FirstMetricFusion)

    @hookimpl
    def register_selectors(self, register):
        register("test_keep_two", KeepTwo)

    @hookimpl
    def register_pacers(self, register):
        register("test_one_stage", OneStage)

    @hookimpl
    def register_schedules(self, register):
        register("test_step", StepSchedule)

    @hookimpl
    def register_kd_losses(self, register):
        register("test_l1", L1Loss)

    @hookimpl
    def register_tasks(self, register):
        register("test_two", TwoSamples)

    @hookimpl
    def register_groupings(self, register):
        register("test_prompt_length", PromptLengthGrouping)


@pytest.fixture
def test_plugin():
    plugins.register(InProcessPlugin(), name="test-plugin", distribution="srd-tests")
    yield
    plugins.unregister("test-plugin")


def record(i: int, output: str) -> ReflectionRecord:
    return ReflectionRecord(str(i), "h", output, 1.0, 3, 2, len(output))


def test_hook_register_difficulty_metrics(test_plugin):
    metric = get_component("difficulty_metric", "test_length", scale=2.0)
    assert metric.name == "test_length" and metric.higher_is_easier is False
    samples = [Sample("0", "p", ["r"]), Sample("1", "p", ["r"])]
    assert metric.score(samples, [record(0, "ab"), record(1, "abcd")]) == [4.0, 8.0]
    entry = get_registry().get("difficulty_metric", "test_length")
    assert entry.distribution == "srd-tests" and entry.plugin == "test-plugin"


def test_hook_register_fusions(test_plugin):
    assert get_component("fusion", "test_first").fuse({"a": [2, 1], "b": [1, 2]}) == [-2.0, -1.0]


def test_hook_register_selectors(test_plugin):
    selection = get_component("selector", "test_keep_two").select([2, 0, 1], [0.1, 0.2, 0.3], {})
    assert selection.n_keep == 2 and selection.info == {"why": "two"}


def test_hook_register_pacers(test_plugin):
    pacer = get_component("pacer", "test_one_stage")
    assert pacer.stages(pacer.bins(["a", "b"]), ["a", "b", "c"]) == [StagePlan(["a", "b"], 2.0)]


def test_hook_register_schedules(test_plugin):
    assert get_component("schedule", "test_step").value(7, 10, 0) == 7.0


def test_hook_register_kd_losses(test_plugin):
    loss = get_component("kd_loss", "test_l1")
    p = torch.log_softmax(torch.tensor([[1.0, 2.0]]), -1)
    assert torch.allclose(loss.token_loss(p, p), torch.zeros(1))


def test_hook_register_tasks(test_plugin):
    samples = get_component("task", "test_two", answer="four").load("eval")
    assert [s.id for s in samples] == ["eval-0", "eval-1"] and samples[0].target == "four"


def test_hook_register_groupings(test_plugin):
    grouping = get_component("grouping", "test_prompt_length", cut=5)
    samples = [Sample("a", "2+2=", ["4"]), Sample("b", "12+12=", ["24"])]
    assert grouping.assign(samples) == ["short", "long"]
    assert get_registry().get("grouping", "test_prompt_length").distribution == "srd-tests"


def test_params_are_validated_with_field_path(test_plugin):
    with pytest.raises(PluginError, match=r"difficulty_metric 'test_length': scale: expected a number, not a string"):
        get_component("difficulty_metric", "test_length", scale="big")
    with pytest.raises(PluginError, match=r"test_two'?: colour: unknown field"):
        get_component("task", "test_two", colour="red")


def test_unknown_component_suggests_close_names(test_plugin):
    with pytest.raises(PluginError, match=r"unknown task 'test_tow' \(did you mean 'test_two'\? available: .*test_two"):
        get_component("task", "test_tow")


def test_unregister_removes_components():
    plugins.register(InProcessPlugin(), name="temporary", distribution="x")
    assert "test_l1" in get_registry().names("kd_loss")
    plugins.unregister("temporary")
    assert "test_l1" not in get_registry().names("kd_loss")


def test_component_of_wrong_base_is_rejected():
    class Bad:
        @hookimpl
        def register_fusions(self, register):
            register("bad", dict)

    plugins.register(Bad(), name="bad-plugin", distribution="bad-dist")
    try:
        with pytest.raises(PluginError, match="not a Fusion subclass"):
            get_registry()
    finally:
        plugins.unregister("bad-plugin")
