"""Built-in rank fusions: RRF and rank_mean values and order properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srd_core.errors import PluginError
from srd_core.plugins import get_component


def test_rrf_values():
    rrf = get_component("fusion", "rrf")
    scores = rrf.fuse({"a": [1, 2, 3], "b": [3, 1, 2]})
    assert scores == [1 / 61 + 1 / 63, 1 / 62 + 1 / 61, 1 / 63 + 1 / 62]
    assert get_component("fusion", "rrf", k=0).fuse({"a": [1, 2]}) == [1.0, 0.5]


def test_rrf_rejects_bad_k():
    with pytest.raises(PluginError, match="k"):
        get_component("fusion", "rrf", k=-1)
    with pytest.raises(PluginError, match="unknown field"):
        get_component("fusion", "rrf", kk=3)


def test_rank_mean_values():
    fusion = get_component("fusion", "rank_mean")
    assert fusion.fuse({"a": [1, 2, 3], "b": [1, 3, 2]}) == [1.0, 0.25, 0.25]
    assert fusion.fuse({"a": [1]}) == [1.0]
    assert fusion.fuse({}) == []


def test_fusions_reject_ragged_ranks():
    for name in ("rrf", "rank_mean"):
        with pytest.raises(ValueError, match="different lengths"):
            get_component("fusion", name).fuse({"a": [1, 2], "b": [1]})


@st.composite
def rank_table(draw):
    n = draw(st.integers(1, 30))
    m = draw(st.integers(1, 4))
    return {f"m{j}": draw(st.permutations(list(range(1, n + 1)))) for j in range(m)}


@settings(max_examples=100, deadline=None)
@given(rank_table(), st.sampled_from(["rrf", "rank_mean"]))
def test_fusion_respects_dominance_and_metric_order(ranks, name):
    """A sample at least as easy on every metric scores at least as high; metric order is irrelevant."""
    fusion = get_component("fusion", name)
    scores = fusion.fuse(ranks)
    n = len(next(iter(ranks.values())))
    assert len(scores) == n
    for i in range(n):
        for j in range(n):
            if all(r[i] <= r[j] for r in ranks.values()):
                assert scores[i] >= scores[j] - 1e-12
    reordered = dict(reversed(list(ranks.items())))
    assert fusion.fuse(reordered) == pytest.approx(scores, abs=1e-12)
    if name == "rank_mean":
        assert all(0.0 <= s <= 1.0 for s in scores)
