"""Resolving a run's arms: the default two from the old sections, `like` chains, curations, and bad entries."""

from __future__ import annotations

import pytest

from srd_core.arms import arm_of, curate_phase, curation_dir, resolve_arms
from srd_core.config import config_from_dict, spec
from srd_core.errors import ConfigError

BASE = {
    "teacher": {"path": "t"}, "student": {"path": "s"}, "data": {"train": {"name": "synthetic"}},
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
    c = config(arms={
        "srd": {},
        "half": {"curriculum": {"selector": {"name": "fixed_ratio", "ratio": 0.5}}},
        "half_again": {"like": "half", "sft_weight": {"name": "constant", "value": 0.1}},
        "baseline": {},
        "kd_equal": {"like": "baseline", "match_steps_of": "srd"},
    })
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


@pytest.mark.parametrize(("arms", "message"), [
    ({}, "arms: list at least one arm"),
    ({"Teacher": {}}, "arms.Teacher: an arm name is lowercase"),
    ({"teacher": {}}, "arms.teacher: an arm name is lowercase"),
    ({"a": {"like": "b"}}, "arms.a.like: 'b' is neither an arm of arms (a) nor a template"),
    ({"a": {"match_steps_of": "a"}}, "arms.a.match_steps_of: 'a' is not another arm of arms"),
    ({"a": {"like": "b"}, "b": {"like": "a"}}, "arms.a.like: the chain a → b → a loops"),
    ({"a": {"curriculum": {"bogus": 1}}}, "arms.a.curriculum."),
    ({"a": {"pacer": {"name": "no_such_pacer"}}}, "arms.a.pacer.name: unknown pacer"),
    ({"a": {"pacer": {"name": "all", "epochs": -1}}}, "arms.a.pacer.epochs"),
])
def test_bad_arms_are_one_line_naming_the_field(arms, message):
    with pytest.raises(ConfigError) as info:
        config(arms=arms)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_matched_arm_must_set_its_own_steps():
    c = config(arms={"srd": {}, "a": {"like": "baseline", "match_steps_of": "srd"},
                     "b": {"like": "baseline", "match_steps_of": "a"}})
    with pytest.raises(ConfigError, match=r"arms.b.match_steps_of: 'a' matches another arm's steps itself"):
        resolve_arms(c)


def test_a_stratified_srd_arm_is_an_entry_with_its_own_curation(tmp_path):
    c = config(arms={"srd": {}, "srd_stratified": {"curriculum": {"stratify": True,
                                                                  "groups": {"name": "field", "field": "family"}}}})
    arm = resolve_arms(c)["srd_stratified"]
    assert arm.curation == "srd_stratified" and curate_phase(arm) == "curate_srd_stratified"
    assert arm.curriculum.stratify and arm.curriculum.groups.name == "field"
    assert arm.curriculum.groups.params["field"] == "family"  # params resolved by the grouping's Params
    assert "arms.srd" not in arm.sources  # it starts from the srd template, not from the arm named srd
    assert not c.curriculum.stratify and resolve_arms(c)["srd"].curation is None
    assert arm.pacer == c.curriculum.pacer and arm.temperature == c.train.temperature
