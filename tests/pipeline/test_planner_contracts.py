"""Third-party components get the planner's checks through the contract, not through their names.

Each kind is exercised twice, with a component defined here (registered like a third-party plugin): one
that answers the planner's question (``Selector.planned_keep``, ``Task.count`` / ``has_split`` /
``check_sources``, ``TeacherSignal.cached``) and one that does not (the documented fallback). Validation and
the dry run must give the same answer.
"""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field

from srd_core import hookimpl, plugins
from srd_core.components import Selection, Selector, Task, TeacherSignal
from srd_core.config import config_from_dict
from srd_core.errors import ConfigError
from srd_core.pipeline.dry_run import plan_run
from srd_core.pipeline.validation import validate_config
from srd_core.types import Sample


class HalfKeeper(Selector):
    """Keeps the easier half, and says so before any score exists."""

    def select(self, order, fused, values):
        return Selection(self.planned_keep(len(order)))

    def planned_keep(self, n):
        return n // 2


class ScoreOnly(Selector):
    """Needs the real scores: no ``planned_keep``, and must never be run on made-up ones."""

    def select(self, order, fused, values):
        raise AssertionError("the planner ran the selector without reflection scores")


class ContractParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int = Field(12, ge=1, description="Samples per split.")
    counted: bool = Field(True, description="Answer count().")
    eval_split: bool = Field(True, description="Whether the task has an eval split.")
    source_missing: bool = Field(False, description="Pretend the local source is gone.")


class ContractTask(Task):
    """Generated samples; answers the planner's questions about its splits and sources."""

    Params = ContractParams

    def load(self, split):
        return [Sample(f"{split}-{i}", f"q{i}", [f"a{i}"]) for i in range(self.params.n)]

    def count(self, split):
        return self.params.n if self.params.counted else None

    def has_split(self, split):
        return split == "train" or self.params.eval_split

    def check_sources(self):
        if self.params.source_missing:
            raise ValueError("source: /data/gone.bin does not exist")


class SilentTask(Task):
    """Generated samples; answers nothing (every fallback)."""

    def load(self, split):
        return [Sample(f"{split}-{i}", f"q{i}", [f"a{i}"]) for i in range(12)]


class StoredSignal(TeacherSignal):
    """A cached signal that stores nothing (enough for planning)."""

    def fields(self, vocab_size, temperatures):
        return {}


class ThirdParty:
    @hookimpl
    def register_selectors(self, register):
        register("tp_half", HalfKeeper)
        register("tp_scores", ScoreOnly)

    @hookimpl
    def register_tasks(self, register):
        register("tp_contract", ContractTask)
        register("tp_silent", SilentTask)

    @hookimpl
    def register_teacher_signals(self, register):
        register("tp_stored", StoredSignal)


@pytest.fixture(autouse=True)
def third_party():
    plugins.register(ThirdParty(), name="tp-plugin", distribution="srd-tests-tp")
    yield
    plugins.unregister("tp-plugin")


def raw(tmp_path, selector: str = "fixed_ratio", task: dict | None = None, bins: int = 3, **train) -> dict:
    return {
        "run": {"name": "c", "output_dir": str(tmp_path / "runs")},
        "teacher": {"preset": "micro-teacher"},
        "student": {"preset": "micro-student"},
        "data": {"train": task or {"name": "tp_contract"}, "max_prompt_tokens": 32, "max_length": 48},
        "curriculum": {"selector": {"name": selector}, "pacer": {"name": "baby_step", "num_bins": bins}},
        "train": {
            "temperature": {"name": "constant", "value": 1.0},
            "sft_weight": {"name": "constant", "value": 0.2},
            **train,
        },
    }


def test_a_selector_that_plans_its_keep_is_checked_and_planned_with_it(tmp_path):
    config = config_from_dict(raw(tmp_path, "tp_half", bins=7))
    with pytest.raises(
        ConfigError,
        match=r"^curriculum\.pacer: 7 bins need at least 7 kept samples; the data "
        r"gives 12 training samples and curriculum\.selector keeps 6$",
    ):
        validate_config(config)
    plan = plan_run(config_from_dict(raw(tmp_path, "tp_half", bins=3)))
    assert [s.samples for s in plan.srd.stages] == [2, 4, 6]  # 6 of 12 kept, in 3 cumulative bins
    assert "tp_half keeps 6 of 12" in plan.render() and not any("planned_keep" in n for n in plan.notes)


def test_a_selector_without_planned_keep_is_assumed_to_keep_all_and_never_run(tmp_path):
    validate_config(config_from_dict(raw(tmp_path, "tp_scores", bins=7)))  # 12 assumed kept >= 7 bins
    plan = plan_run(config_from_dict(raw(tmp_path, "tp_scores", bins=3)))
    assert [s.samples for s in plan.srd.stages] == [4, 8, 12]
    assert any("selector 'tp_scores' does not plan how many samples it keeps" in n for n in plan.notes)


def test_a_task_that_counts_gets_the_bin_check(tmp_path):
    task = {"name": "tp_contract", "n": 3}
    with pytest.raises(
        ConfigError,
        match=r"^curriculum\.pacer: 3 bins need at least 3 kept samples; the data gives "
        r"3 training samples and curriculum\.selector keeps 2$",
    ):
        validate_config(config_from_dict(raw(tmp_path, task=task)))
    task["counted"] = False  # no count: the check is left to curation
    validate_config(config_from_dict(raw(tmp_path, task=task)))


def test_a_task_without_an_eval_split_is_named_before_an_evaluating_command(tmp_path):
    config = config_from_dict(raw(tmp_path, task={"name": "tp_contract", "eval_split": False}))
    with pytest.raises(ConfigError, match=r"^data\.eval: no eval split to evaluate on"):
        validate_config(config)
    validate_config(config, evaluates=False)


def test_a_task_names_its_missing_source_under_its_config_field(tmp_path):
    config = config_from_dict(raw(tmp_path, task={"name": "tp_contract", "source_missing": True}))
    with pytest.raises(ConfigError, match=r"^data\.train\.source: /data/gone\.bin does not exist$"):
        validate_config(config)
    validate_config(config, files=False)  # a check of the disk: left out for configs of another machine


def test_a_task_that_answers_nothing_is_trusted(tmp_path):
    config = config_from_dict(raw(tmp_path, task={"name": "tp_silent"}, bins=7))
    validate_config(config)  # no count, no eval-split answer, no source check: all left to the run
    assert "fixed_ratio keeps 9 of 12" in plan_run(config).render()  # the dry run loads it and counts


def test_a_cached_third_party_signal_gets_the_teacher_cache_phase(tmp_path):
    online = plan_run(config_from_dict(raw(tmp_path)))
    assert not any(p.name == "teacher cache" for p in online.phases)
    stored = plan_run(config_from_dict(raw(tmp_path, teacher_signal={"name": "tp_stored"})))
    cache = [p for p in stored.phases if p.name == "teacher cache"]
    assert len(cache) == 1 and "train: tp_stored" in cache[0].detail
