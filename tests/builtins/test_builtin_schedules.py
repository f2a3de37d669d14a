"""Built-in schedules: constant, stagewise, linear and cosine as pure functions of (step, total, stage)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from srd_core.errors import PluginError
from srd_core.plugins import get_component


def test_constant():
    schedule = get_component("schedule", "constant", value=0.2)
    assert {schedule.value(s, 10, st) for s in range(10) for st in range(3)} == {0.2}
    schedule.check_stages(7)
    with pytest.raises(PluginError, match="value: required"):
        get_component("schedule", "constant")


def test_stagewise_one_value_per_stage():
    schedule = get_component("schedule", "stagewise", values=[1.0, 1.5, 2.0])
    assert [schedule.value(step, 90, stage) for step, stage in ((0, 0), (29, 0), (30, 1), (89, 2))] == [
        1.0,
        1.0,
        1.5,
        2.0,
    ]
    schedule.check_stages(3)
    with pytest.raises(ValueError, match="3 values for 2 stages"):
        schedule.check_stages(2)
    with pytest.raises(ValueError, match="stage 3"):
        schedule.value(0, 10, 3)
    with pytest.raises(PluginError, match="values"):
        get_component("schedule", "stagewise", values=[])


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_ramps_require_both_ends(name):
    with pytest.raises(PluginError, match="end: required"):
        get_component("schedule", name, start=1.0)


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_ramp_endpoints_are_exact(name):
    temperature = get_component("schedule", name, start=1.0, end=2.0)
    sft = get_component("schedule", name, start=0.3, end=0.1)
    for total in (2, 7, 1000):
        assert temperature.value(0, total, 0) == 1.0 and temperature.value(total - 1, total, 2) == 2.0
        assert sft.value(0, total, 0) == 0.3 and sft.value(total - 1, total, 2) == 0.1
    assert temperature.value(0, 1, 0) == 1.0  # a single step sits at the start


def test_linear_and_cosine_midpoints():
    linear = get_component("schedule", "linear", start=1.0, end=2.0)
    cosine = get_component("schedule", "cosine", start=1.0, end=2.0)
    assert linear.value(50, 101, 0) == pytest.approx(1.5)
    assert cosine.value(50, 101, 0) == pytest.approx(1.5)
    assert linear.value(25, 101, 0) == pytest.approx(1.25)
    assert cosine.value(25, 101, 0) == pytest.approx(1.0 + (1 - math.cos(math.pi / 4)) / 2)
    assert cosine.value(25, 101, 0) < linear.value(25, 101, 0)  # flat start


@given(st.sampled_from(["linear", "cosine"]), st.floats(-10, 10), st.floats(-10, 10), st.integers(2, 300))
def test_ramps_are_monotone_and_bounded(name, start, end, total):
    schedule = get_component("schedule", name, start=start, end=end)
    values = [schedule.value(step, total, 0) for step in range(total)]
    sign = 1 if end >= start else -1
    assert all(sign * (b - a) >= -1e-12 for a, b in itertools.pairwise(values))
    low, high = min(start, end), max(start, end)
    assert all(low - 1e-12 <= v <= high + 1e-12 for v in values)
