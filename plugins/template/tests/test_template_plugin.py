"""Test a plugin three ways: the component alone, through the registry, and its Params validation."""

from __future__ import annotations

import pytest
from srd_template.plugin import LengthRatio

from srd_core import get_component
from srd_core.errors import PluginError
from srd_core.types import ReflectionRecord, Sample


def reflection(output: str) -> ReflectionRecord:
    return ReflectionRecord(
        id="a", prompt_hash="h", output=output, ce=0.0, prompt_tokens=1, response_tokens=1, output_tokens=1
    )


def test_scores():
    metric = LengthRatio(LengthRatio.Params())
    sample = Sample(id="a", prompt="p", references=["one two three four"])
    assert metric.score([sample], [reflection("one two")]) == [0.5]
    assert metric.score([sample], [reflection("")]) == [0.0]


def test_registered_through_the_entry_point():
    """Needs the distribution installed (pip install -e .): srd finds it like any user would."""
    metric = get_component("difficulty_metric", "length_ratio", unit="chars")
    assert isinstance(metric, LengthRatio) and metric.params.unit == "chars"


def test_bad_params_are_one_line_errors():
    with pytest.raises(PluginError, match="unit"):
        get_component("difficulty_metric", "length_ratio", unit="tokens")
