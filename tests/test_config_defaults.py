"""Defaults that follow the config: the schedules spread over the pacer's stages, closest-field suggestions,
SFT steps that scale with the data."""

from __future__ import annotations

import pytest

from srd_core.config import SFTConfig, apply_overrides, config_from_dict
from srd_core.errors import ConfigError

BASE = {
    "teacher": {"preset": "micro-teacher"},
    "student": {"preset": "micro-student"},
    "data": {"train": {"name": "synthetic", "n_train": 64, "n_eval": 8}},
}


def _config(**sections):
    return config_from_dict({**BASE, **sections})


@pytest.mark.parametrize(
    "bins,temperature,sft_weight",
    [
        (3, [1.0, 1.5, 2.0], [0.3, 0.2, 0.1]),  # the paper's values, as before the default followed the bins
        (4, [1.0, 1.3333333333, 1.6666666667, 2.0], [0.3, 0.2333333333, 0.1666666667, 0.1]),
        (5, [1.0, 1.25, 1.5, 1.75, 2.0], [0.3, 0.25, 0.2, 0.15, 0.1]),
        (1, [1.0], [0.3]),
    ],
)
def test_default_schedules_follow_num_bins(bins, temperature, sft_weight):
    config = _config(curriculum={"pacer": {"name": "baby_step", "num_bins": bins}})
    assert config.train.temperature.model_dump() == {"name": "stagewise", "values": temperature}
    assert config.train.sft_weight.model_dump() == {"name": "stagewise", "values": sft_weight}
    # the baseline's own defaults are untouched, and the resolved config reloads as itself
    assert config.baseline.temperature.model_dump() == {"name": "constant", "value": 1.0}
    again = config_from_dict(config.model_dump(mode="json"))
    assert again.model_dump() == config.model_dump()


def test_stagewise_given_as_endpoints_is_spread_over_the_stages():
    config = _config(
        curriculum={"pacer": {"name": "baby_step", "num_bins": 4}},
        train={"temperature": {"name": "stagewise", "start": 2.0, "end": 0.5}},
    )
    assert config.train.temperature.params == {"values": [2.0, 1.5, 1.0, 0.5]}
    # explicit values are kept as written, and must still match the stages
    kept = _config(train={"temperature": {"name": "stagewise", "values": [1.0, 1.2, 2.0]}})
    assert kept.train.temperature.params == {"values": [1.0, 1.2, 2.0]}


@pytest.mark.parametrize(
    "spec,message",
    [
        ({"name": "stagewise", "start": 1.0}, "give `values` \\(one per stage\\) or both `start` and `end`"),
        ({"name": "stagewise", "values": [1.0], "start": 1.0, "end": 2.0}, "either `values` or `start` and `end`"),
    ],
)
def test_stagewise_needs_one_form(spec, message):
    with pytest.raises(ConfigError, match=rf"train\.temperature.*{message}"):
        _config(train={"temperature": spec})


def test_num_bins_override_no_longer_needs_the_schedules_rewritten():
    raw = apply_overrides(BASE, ["curriculum.pacer.num_bins=4"])
    assert len(config_from_dict(raw).train.temperature.params["values"]) == 4
    # a value list given by --set on the default schedule replaces its endpoints
    raw = apply_overrides(BASE, ["train.temperature.values=[1.0, 2.0, 3.0]"])
    assert raw["train"]["temperature"] == {"name": "stagewise", "values": [1.0, 2.0, 3.0]}
    assert config_from_dict(raw).train.temperature.params == {"values": [1.0, 2.0, 3.0]}


@pytest.mark.parametrize(
    "section,field,suggestion",
    [
        ("train", "learning_rate", "lr"),
        ("train", "batchsize", "batch_size"),
        ("data", "max_lenght", "max_length"),
        ("reflection", "max_tokens", "max_new_tokens"),
        ("eval", "protcol", "protocol"),
    ],
)
def test_unknown_fields_suggest_the_closest_known_field(section, field, suggestion):
    raw = {**BASE, section: {**BASE.get(section, {}), field: 1}}
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert str(info.value) == f"{section}.{field}: unknown field (did you mean {suggestion!r}?)"


def test_unknown_component_params_and_nested_fields_suggest_too():
    with pytest.raises(ConfigError, match=r"^curriculum\.pacer\.num_bin: unknown field \(did you mean 'num_bins'\?\)$"):
        _config(curriculum={"pacer": {"name": "baby_step", "num_bin": 4}})
    with pytest.raises(ConfigError, match=r"^prepare\.teacher_sft\.step: unknown field \(did you mean 'steps'\?\)$"):
        _config(prepare={"teacher_sft": {"step": 4}})
    with pytest.raises(ConfigError, match=r"^train\.colour: unknown field$"):  # nothing close: no guess
        _config(train={"colour": "red"})


def test_sft_steps_scale_with_the_data_and_explicit_steps_are_exact():
    config = _config()
    teacher, student = config.prepare.teacher_sft, config.prepare.student_sft
    assert teacher.steps_for(40) == 13  # 10 epochs of 40 samples at batch 32
    assert teacher.steps_for(4000) == 300  # capped
    assert student.steps_for(40) == 7 and student.steps_for(4000) == 40
    explicit = _config(prepare={"student_sft": {"steps": 200, "batch_size": 32}}).prepare.student_sft
    assert explicit.epochs is None and explicit.steps_for(40) == 200  # the demo's warm start is unchanged
    assert SFTConfig(steps=0, epochs=3.0).steps_for(40) == 0
