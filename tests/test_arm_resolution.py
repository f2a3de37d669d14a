"""Resolving a run's arms: the default two from the old sections, `like` chains, curations, and bad entries."""

from __future__ import annotations

import pytest
from paths import EXAMPLES

from srd_core.arms import arm_of, curate_phase, curation_dir, resolve_arms
from srd_core.config import apply_overrides, config_from_dict, load_config, spec
from srd_core.errors import ConfigError
from srd_core.pipeline.validation import validate_config

BASE = {
    "teacher": {"path": "t"},
    "student": {"path": "s"},
    "data": {"train": {"name": "synthetic"}},
    "baseline": {"pacer": {"name": "all", "epochs": 15}, "sft_weight": {"name": "constant", "value": 0.25}},
}


def config(**sections):
    return config_from_dict({**BASE, **sections})


def test_without_arms_the_run_trains_srd_and_the_baseline_from_their_sections():
    c = config()
    arms = resolve_arms(c)
    assert list(arms) == ["srd", "baseline"]
    assert arms["srd"].pacer == c.curriculum.pacer and arms["srd"].temperature == c.train.temperature
    assert arms["baseline"].pacer == c.baseline.pacer and arms["baseline"].sft_weight == c.baseline.sft_weight
    assert arms["srd"].sources == ("train.temperature", "train.sft_weight", "curriculum.pacer")
    assert arms["baseline"].sources == ("baseline",) and arms["baseline"].match_steps_of is None
    assert list(resolve_arms(config(baseline={"enabled": False}))) == ["srd"]
    matched = resolve_arms(config(baseline={"match_srd_steps": True}))["baseline"]
    assert matched.match_steps_of == "srd" and matched.sources == ("baseline", "curriculum.pacer")


def test_arms_start_from_like_and_change_what_they_set(tmp_path):
    c = config(
        arms={
            "srd": {},
            "half": {"curriculum": {"selector": {"name": "fixed_ratio", "ratio": 0.5}}},
            "half_again": {"like": "half", "sft_weight": {"name": "constant", "value": 0.1}},
            "baseline": {},
            "kd_equal": {"like": "baseline", "match_steps_of": "srd"},
        }
    )
    arms = resolve_arms(c)
    assert list(arms) == ["srd", "half", "half_again", "baseline", "kd_equal"]
    assert arms["srd"].curation is None and curate_phase(arms["srd"]) == "curate"
    assert arms["half"].curation == "half" and arms["half"].curriculum.selector.params["ratio"] == 0.5
    assert arms["half_again"].curation == "half"  # the same curriculum: one curation, shared
    assert curation_dir(tmp_path, arms["half_again"]) == tmp_path / "curation-half"
    assert arms["half_again"].sft_weight == spec("constant", value=0.1)
    assert arms["half_again"].temperature == c.train.temperature
    assert "arms.half" in arms["half_again"].sources and "curriculum" in arms["half_again"].sources
    assert arms["baseline"].pacer == c.baseline.pacer  # `baseline: {}` starts from the baseline template
    assert arms["kd_equal"].pacer == c.baseline.pacer and arms["kd_equal"].match_steps_of == "srd"
    assert arms["kd_equal"].curation is None  # plain KD reads no curation
    assert arms["kd_equal"].section == "arms.kd_equal"


def test_an_unknown_arm_is_one_line_naming_the_arms():
    with pytest.raises(ConfigError, match=r"no arm named 'nope' in this run \(its arms: srd, baseline\)"):
        arm_of(config(), "nope")


@pytest.mark.parametrize(
    ("arms", "message"),
    [
        ({}, "arms: list at least one arm"),
        ({"Teacher": {}}, "arms.Teacher: an arm name is lowercase"),
        ({"teacher": {}}, "arms.teacher: an arm name is lowercase"),
        ({"a": {"like": "b"}}, "arms.a.like: 'b' is neither an arm of arms (a) nor a template"),
        ({"a": {"match_steps_of": "a"}}, "arms.a.match_steps_of: 'a' is not another arm of arms"),
        ({"a": {"like": "b"}, "b": {"like": "a"}}, "arms.a.like: the chain a → b → a loops"),
        ({"a": {"curriculum": {"bogus": 1}}}, "arms.a.curriculum."),
        ({"a": {"pacer": {"name": "no_such_pacer"}}}, "arms.a.pacer.name: unknown pacer"),
        ({"a": {"pacer": {"name": "all", "epochs": -1}}}, "arms.a.pacer.epochs"),
    ],
)
def test_bad_arms_are_one_line_naming_the_field(arms, message):
    with pytest.raises(ConfigError) as info:
        config(arms=arms)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_matched_arm_must_set_its_own_steps():
    c = config(
        arms={
            "srd": {},
            "a": {"like": "baseline", "match_steps_of": "srd"},
            "b": {"like": "baseline", "match_steps_of": "a"},
        }
    )
    with pytest.raises(ConfigError, match=r"arms.b.match_steps_of: 'a' matches another arm's steps itself"):
        resolve_arms(c)


def test_a_stratified_srd_arm_is_an_entry_with_its_own_curation(tmp_path):
    c = config(
        arms={
            "srd": {},
            "srd_stratified": {"curriculum": {"stratify": True, "groups": {"name": "field", "field": "family"}}},
        }
    )
    arm = resolve_arms(c)["srd_stratified"]
    assert arm.curation == "srd_stratified" and curate_phase(arm) == "curate_srd_stratified"
    assert arm.curriculum.stratify and arm.curriculum.groups.name == "field"
    assert arm.curriculum.groups.params["field"] == "family"  # params resolved by the grouping's Params
    assert "arms.srd" not in arm.sources  # it starts from the srd template, not from the arm named srd
    assert not c.curriculum.stratify and resolve_arms(c)["srd"].curation is None
    assert arm.pacer == c.curriculum.pacer and arm.temperature == c.train.temperature


def test_a_set_into_an_inherited_spec_merges_into_it():
    """`--set arms.X.pacer.num_bins=4` on an arm that inherits its pacer changes the inherited pacer (issue 19)."""
    base = load_config(EXAMPLES / "demo.yaml")
    four = [
        "arms.srd_stratified.pacer.num_bins=4",
        "arms.srd_stratified.temperature.values=[1, 1.25, 1.5, 2]",
        "arms.srd_stratified.sft_weight.values=[0.3, 0.2, 0.1, 0.1]",
    ]
    arms = resolve_arms(load_config(EXAMPLES / "demo.yaml", four))
    pacer = arms["srd_stratified"].pacer
    assert pacer.name == "baby_step" and pacer.params["num_bins"] == 4
    assert pacer.params["epochs_per_stage"] == base.curriculum.pacer.params["epochs_per_stage"]  # the rest inherited
    assert arms["srd_stratified"].curriculum.pacer == pacer and arms["srd_stratified"].curriculum.stratify
    assert arms["srd_stratified"].temperature.params["values"] == [1, 1.25, 1.5, 2]
    assert arms["srd"].pacer == base.curriculum.pacer  # nothing else moves
    # the demo's schedules are start/end: they follow the arm's 4 stages, the other arms keep 3
    alone = resolve_arms(validate_config(load_config(EXAMPLES / "demo.yaml", four[:1]), files=False))
    assert alone["srd_stratified"].temperature.params["values"] == pytest.approx([1.0, 4 / 3, 5 / 3, 2.0])
    assert alone["srd"].temperature.params["values"] == [1.0, 1.5, 2.0]
    # schedules given as values do not follow a new stage count: one line naming where they come from
    values = ["train.temperature={name: stagewise, values: [1.0, 1.5, 2.0]}", *four[:1]]
    with pytest.raises(ConfigError) as info:
        validate_config(load_config(EXAMPLES / "demo.yaml", values), files=False)
    message = str(info.value)
    assert "arms.srd_stratified.temperature: stagewise schedule has 3 values for 4 stages" in message
    assert "inherited from train.temperature" in message and "arms.srd_stratified.temperature.values" in message
    assert "\n" not in message


def test_schedule_curriculum_and_baseline_fields_of_arms_merge_into_what_they_inherit():
    raw = {
        **BASE,
        "curriculum": {"fusion": {"name": "rrf", "k": 30}},
        "train": {"sft_weight": {"name": "stagewise", "values": [0.3, 0.2, 0.1]}},
        "arms": {
            "srd": {},
            "half": {"curriculum": {"selector": {"name": "fixed_ratio", "ratio": 0.5}}},
            "half_sharp": {"like": "half"},
            "baseline": {},
            "b": {"like": "baseline"},
        },
    }
    sets = [
        "arms.srd.sft_weight.values=[0.5, 0.4, 0.3]",
        "arms.half_sharp.curriculum.selector.ratio=0.25",
        "arms.half_sharp.curriculum.fusion.k=5",
        "arms.b.pacer.epochs=3",
        "arms.b.sft_weight.value=0.4",
    ]
    c = config_from_dict(apply_overrides(raw, sets))
    arms = resolve_arms(c)
    assert arms["srd"].sft_weight.params["values"] == [0.5, 0.4, 0.3]
    sharp = arms["half_sharp"].curriculum
    assert sharp.selector.name == "fixed_ratio" and sharp.selector.params["ratio"] == 0.25
    assert sharp.fusion.name == "rrf" and sharp.fusion.params["k"] == 5  # the section's rrf, k changed
    assert arms["half"].curriculum.selector.params["ratio"] == 0.5 and arms["half"].curriculum.fusion.params["k"] == 30
    assert arms["b"].pacer.name == "all" and arms["b"].pacer.params["epochs"] == 3  # baseline section's pacer
    assert arms["b"].sft_weight == spec("constant", value=0.4) and arms["baseline"].sft_weight.params["value"] == 0.25
    # a template section the file leaves out: its default spec is the one changed
    bare = config_from_dict(
        apply_overrides({**BASE, "baseline": {}, "arms": {"b": {"like": "baseline"}}}, ["arms.b.pacer.epochs=2"])
    )
    assert resolve_arms(bare)["b"].pacer.name == "all" and resolve_arms(bare)["b"].pacer.params["epochs"] == 2
    # the same, written in the file: a spec without `name` changes the inherited one; with a name it replaces it
    c = config(
        arms={
            "srd": {"pacer": {"num_bins": 2}},
            "c": {"pacer": {"name": "baby_step", "num_bins": 2}, "temperature": {"name": "constant", "value": 1.5}},
        }
    )
    arms = resolve_arms(c)
    assert arms["srd"].pacer.params["num_bins"] == 2 and arms["srd"].pacer.params["order"] == "easy_to_hard"
    assert arms["c"].temperature == spec("constant", value=1.5)


def test_start_end_schedules_of_arms_are_spread_over_the_arm_s_own_stages():
    c = config(
        arms={
            "srd": {},
            "four": {"pacer": {"num_bins": 4}},
            "own": {"pacer": {"num_bins": 2}, "temperature": {"name": "stagewise", "start": 1.0, "end": 3.0}},
        }
    )
    arms = resolve_arms(c)
    assert arms["srd"].temperature.params["values"] == [1.0, 1.5, 2.0]  # train.temperature's default, 3 bins
    assert arms["four"].temperature.params["values"] == pytest.approx([1.0, 4 / 3, 5 / 3, 2.0])
    assert arms["four"].sft_weight.params["values"] == pytest.approx([0.3, 0.3 - 0.2 / 3, 0.1 + 0.2 / 3, 0.1])
    assert arms["own"].temperature.params["values"] == [1.0, 3.0]
    assert c.arms["srd"].temperature is None  # an arm whose stages match its source keeps reading the source
