"""Built-in selector: fixed_ratio keeps ⌊λ·N⌋ of the sorted samples."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from srd_core.errors import PluginError
from srd_core.plugins import get_component


def _keep(ratio: float, n: int) -> int:
    return get_component("selector", "fixed_ratio", ratio=ratio).select(list(range(n)), [0.0] * n, {}).n_keep


def test_default_is_three_quarters():
    selector = get_component("selector", "fixed_ratio")
    assert selector.params.ratio == 0.75
    assert [_keep(0.75, n) for n in (0, 1, 3, 4, 10, 1000)] == [0, 0, 2, 3, 7, 750]


def test_ratio_as_written_not_binary_rounding():
    assert 0.29 * 100 < 29  # the float product falls just short
    assert _keep(0.29, 100) == 29
    assert _keep(1.0, 17) == 17


@given(st.integers(0, 5000), st.integers(1, 100))
def test_floor_of_percent(n, percent):
    assert _keep(percent / 100, n) == (percent * n) // 100


def test_ratio_bounds():
    for bad in (0, -0.5, 1.5):
        with pytest.raises(PluginError, match="ratio"):
            get_component("selector", "fixed_ratio", ratio=bad)
    assert math.isclose(get_component("selector", "fixed_ratio", ratio=0.5).params.ratio, 0.5)
