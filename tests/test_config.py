"""The YAML config: validation against component Params, overrides, and one-line errors (exit code 2)."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from click.testing import CliRunner
from test_hooks import InProcessPlugin

from srd_core import plugins
from srd_core.cli import cli
from srd_core.config import apply_overrides, load_config, read_yaml
from srd_core.errors import ConfigError

BASE = {
    "run": {"name": "t"},
    "teacher": {"path": "teacher-dir"},
    "student": {"path": "student-dir"},
    "data": {"train": {"name": "test_two"}},
    "curriculum": {
        "metrics": [{"name": "test_length", "scale": 2}],
        "fusion": {"name": "test_first"},
        "selector": {"name": "test_keep_two"},
        "pacer": {"name": "test_one_stage"},
    },
    "train": {
        "kd_loss": {"name": "test_l1"},
        "temperature": {"name": "test_step"},
        "sft_weight": {"name": "test_step"},
    },
    "baseline": {
        "pacer": {"name": "test_one_stage"},
        "temperature": {"name": "test_step"},
        "sft_weight": {"name": "test_step"},
    },
}


@pytest.fixture(autouse=True)
def in_process_plugin():
    plugins.register(InProcessPlugin(), name="config-test-plugin", distribution="srd-tests")
    yield
    plugins.unregister("config-test-plugin")


def write(tmp_path, data, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_valid_config_resolves_component_defaults(tmp_path):
    config = load_config(write(tmp_path, BASE))
    assert config.curriculum.metrics[0].params == {"scale": 2.0}
    assert config.data.train.params == {"answer": "4"}  # default filled in
    assert config.train.lr == 1e-4


def test_validate_and_show(tmp_path):
    # validate also checks schedule values: test_step (the step number) is no temperature, so constants here
    constant = {"temperature": {"name": "constant", "value": 1.0}, "sft_weight": {"name": "constant", "value": 0.2}}
    path = write(
        tmp_path, {**BASE, "train": {**BASE["train"], **constant}, "baseline": {**BASE["baseline"], **constant}}
    )
    result = invoke("config", "validate", str(path))
    assert result.exit_code == 0 and "valid" in result.output
    shown = yaml.safe_load(invoke("config", "show", str(path), "--set", "train.lr=3e-4").output)
    assert shown["train"]["lr"] == 3e-4
    assert shown["data"]["train"] == {"name": "test_two", "answer": "4"}
    assert shown["reflection"]["batch_size"] == 16  # defaults included
    assert shown["reflection"]["max_new_tokens"] is None  # unset: the run takes it from the data


def test_schema_is_json_schema():
    schema = json.loads(invoke("config", "schema").output)
    assert schema["title"] == "SRDConfig" and "teacher" in schema["required"]


def test_overrides_reach_lists_and_parse_yaml():
    data = apply_overrides(BASE, ["curriculum.metrics.0.scale=5", "train.betas=[0.8, 0.9]", "run.name=x"])
    assert data["curriculum"]["metrics"][0]["scale"] == 5 and data["train"]["betas"] == [0.8, 0.9]
    assert BASE["run"]["name"] == "t"  # the input is not mutated
    with pytest.raises(ConfigError, match=r"expected KEY\.PATH=VALUE"):
        apply_overrides(BASE, ["train.lr"])
    with pytest.raises(ConfigError, match=r"curriculum\.metrics\.3 is not a valid list index"):
        apply_overrides(BASE, ["curriculum.metrics.3.scale=1"])


def test_overrides_merge_into_component_specs():
    """A param set on a component merges into its spec: the file's, a bare name, or the default one."""
    raw = {"train": {"kd_loss": "jsd"}, "curriculum": {"metrics": ["rouge_l", "cross_entropy"]}}
    data = apply_overrides(
        raw,
        [
            "train.kd_loss.beta=0.3",
            "curriculum.pacer.num_bins=5",
            "curriculum.metrics.1.scale=2",
            "train.temperature.values=[1, 2]",
        ],
    )
    assert data["train"]["kd_loss"] == {"name": "jsd", "beta": 0.3}
    assert data["curriculum"]["pacer"] == {"name": "baby_step", "num_bins": 5}  # the default pacer, 5 bins
    assert data["curriculum"]["metrics"] == ["rouge_l", {"name": "cross_entropy", "scale": 2}]
    assert data["train"]["temperature"] == {"name": "stagewise", "values": [1, 2]}
    assert raw["train"]["kd_loss"] == "jsd"  # the input is not mutated
    # a section that is no component still starts empty; a whole spec set at once replaces the default
    assert apply_overrides({}, ["train.lr=0.1"]) == {"train": {"lr": 0.1}}
    assert apply_overrides({}, ["train.kd_loss={name: rkl}"])["train"]["kd_loss"] == {"name": "rkl"}
    assert apply_overrides({}, ["curriculum.metrics.0.scale=3"])["curriculum"]["metrics"] == [
        {"name": "rouge_l", "scale": 3},
        {"name": "cross_entropy"},
    ]
    # renaming a defaulted component drops the default's params (values belong to stagewise), not the set ones
    for order in (
        ["train.temperature.name=constant", "train.temperature.value=1.5"],
        ["train.temperature.value=1.5", "train.temperature.name=constant"],
    ):
        assert apply_overrides({}, order)["train"]["temperature"] == {"name": "constant", "value": 1.5}
    # a string that is no component stays a string: descending into it is an error naming it
    with pytest.raises(ConfigError, match=r"--set run\.name\.x: run\.name is not a mapping"):
        apply_overrides({"run": {"name": "t"}}, ["run.name.x=1"])


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["train"].update(lr="fast"), r"c\.yaml: train\.lr: expected a number, not a string"),
        (lambda d: d["train"].update(colour="red"), r"c\.yaml: train\.colour: unknown field"),
        (lambda d: d.pop("teacher"), r"c\.yaml: teacher: required field is missing"),
        (
            lambda d: d["curriculum"]["fusion"].update(name="test_frist"),
            r"c\.yaml: curriculum\.fusion\.name: unknown fusion 'test_frist' \(did you mean 'test_first'\?",
        ),
        (
            lambda d: d["curriculum"]["metrics"][0].update(scale="x"),
            r"c\.yaml: curriculum\.metrics\.0\.scale: expected a number, not a string",
        ),
        (lambda d: d["data"]["train"].update(colour=1), r"c\.yaml: data\.train\.colour: unknown field"),
        (lambda d: d["student"].update(path=None), r"c\.yaml: student: Value error, give either `path`"),
    ],
)
def test_bad_config_is_one_line_exit_2(tmp_path, mutate, expected):
    data = json.loads(json.dumps(BASE))
    mutate(data)
    result = invoke("config", "validate", str(write(tmp_path, data)))
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert len(message.splitlines()) == 1 and message.startswith("srd: error: ")
    import re

    assert re.search(expected, message), message


def test_malformed_yaml_names_line(tmp_path):
    result = invoke("config", "validate", str(write(tmp_path, "run:\n  name: [unclosed\n")))
    assert result.exit_code == 2
    assert "c.yaml:" in result.output and "line 3" in result.output and "malformed YAML" in result.output


def test_missing_file_and_non_mapping(tmp_path):
    result = invoke("config", "validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2 and "nope.yaml: file not found" in result.output
    result = invoke("config", "validate", str(write(tmp_path, "- a\n- b\n")))
    assert result.exit_code == 2 and "expected a mapping at the top level, got list" in result.output


def test_debug_shows_traceback(tmp_path):
    result = invoke("--debug", "config", "validate", str(tmp_path / "nope.yaml"))
    assert isinstance(result.exception, ConfigError)


def test_unquoted_no_is_no_mixed_precision(tmp_path):
    """YAML reads an unquoted `no` as false; it means mixed_precision "no"."""
    config = load_config(write(tmp_path, BASE), ["train.mixed_precision=no"])
    assert config.train.mixed_precision == "no"
    with pytest.raises(ConfigError, match=r"train\.mixed_precision"):
        load_config(write(tmp_path, BASE), ["train.mixed_precision=yes"])


def test_yaml_floats_are_read_as_yaml_1_2_does(tmp_path):
    """PyYAML's 1.1 rules make strings of `3e-4`, `1e5` and `.5`; the config loader reads them as numbers, in
    files and in --set values alike. Integers, words and quoted numbers stay what they were."""
    text = "a: 3e-4\nb: 1e5\nc: .5\nd: -2E+3\ne: 10\nf: 1.5\ng: '0.6'\nh: 1e\ni: .inf\nj: 1_000\n"
    assert read_yaml(write(tmp_path, text)) == {
        "a": 3e-4,
        "b": 1e5,
        "c": 0.5,
        "d": -2000.0,
        "e": 10,
        "f": 1.5,
        "g": "0.6",
        "h": "1e",
        "i": float("inf"),
        "j": 1000,
    }
    assert apply_overrides({}, ["train.lr=3e-4", "train.x=1e5"])["train"] == {"lr": 3e-4, "x": 1e5}
    text = yaml.safe_dump(BASE).replace("\ntrain:\n", "\ntrain:\n  lr: 3e-4\n  batch_size: 1e2\n")
    config = load_config(write(tmp_path, text))
    assert config.train.lr == 3e-4 and config.train.batch_size == 100
    assert load_config(write(tmp_path, BASE), ["train.lr=3e-4"]).train.lr == 3e-4


@pytest.mark.parametrize(
    "override",
    [
        "train.lr='3e-4'",
        "train.lr='0.001'",
        "curriculum.metrics.0.scale='2'",
        "curriculum.selector={name: fixed_ratio, ratio: '0.6'}",
        "train.lr=true",
        "train.batch_size='8'",
    ],
)
def test_a_quoted_number_is_refused_naming_the_field(tmp_path, override):
    """A number written as a string (quoted) is a mistake pydantic's lax mode would hide: one line, the field."""
    field = override.split("=")[0] + (".ratio" if "ratio" in override else "")
    with pytest.raises(ConfigError, match=rf"{re.escape(field)}: expected an? (number|integer), not a "):
        load_config(write(tmp_path, BASE), [override])
