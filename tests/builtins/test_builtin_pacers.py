"""Built-in pacers: Baby Step bins and cumulative stages, and the all-data baseline."""

from __future__ import annotations

import pytest

from srd_core.errors import PluginError
from srd_core.plugins import get_component


def _ids(n: int) -> list[str]:
    return [f"s{i}" for i in range(n)]


def test_baby_step_with_lambda_075_equals_official_quarter_stages_for_every_n():
    """⌊⌊3N/4⌋/3⌋ = ⌊N/4⌋: stage s is the first ⌊N/4⌋·s samples of the easy→hard order."""
    pacer = get_component("pacer", "baby_step")
    selector = get_component("selector", "fixed_ratio")
    for n in range(4, 600):
        order = _ids(n)  # already easy→hard
        kept = order[: selector.select(list(range(n)), [0.0] * n, {}).n_keep]
        stages = pacer.stages(pacer.bins(kept), order)
        assert [plan.ids for plan in stages] == [order[: (n // 4) * s] for s in (1, 2, 3)], n
        assert all(plan.epochs == 1.0 for plan in stages)


def test_remainder_last_and_epochs():
    pacer = get_component("pacer", "baby_step", num_bins=3, remainder="last", epochs_per_stage=0.5)
    bins = pacer.bins(_ids(11))
    assert bins == [_ids(11)[0:3], _ids(11)[3:6], _ids(11)[6:11]]
    stages = pacer.stages(bins, _ids(20))
    assert [len(p.ids) for p in stages] == [3, 6, 11] and {p.epochs for p in stages} == {0.5}


def test_drop_remainder_gives_equal_bins():
    bins = get_component("pacer", "baby_step", num_bins=4).bins(_ids(11))
    assert [len(b) for b in bins] == [2, 2, 2, 2] and bins[0] == ["s0", "s1"]


def test_hard_to_easy_and_random_orders():
    kept = _ids(9)
    assert get_component("pacer", "baby_step", order="hard_to_easy").bins(kept)[0] == ["s8", "s7", "s6"]
    first = get_component("pacer", "baby_step", order="random", seed=1).bins(kept)
    again = get_component("pacer", "baby_step", order="random", seed=1).bins(kept)
    other = get_component("pacer", "baby_step", order="random", seed=2).bins(kept)
    assert first == again and first != other
    assert sorted(i for b in first for i in b) == sorted(kept)


def test_baby_step_errors():
    pacer = get_component("pacer", "baby_step")
    with pytest.raises(ValueError, match="cannot fill 3 bins"):
        pacer.bins(_ids(2))
    with pytest.raises(ValueError, match="num_bins=3"):
        pacer.stages([["a"], ["b"]], ["a", "b"])
    with pytest.raises(ValueError, match="needs the curation bins"):
        pacer.stages(None, ["a"])
    with pytest.raises(PluginError, match="order"):
        get_component("pacer", "baby_step", order="sideways")
    with pytest.raises(PluginError, match="num_bins"):
        get_component("pacer", "baby_step", num_bins=0)


def test_all_pacer_is_one_stage_of_everything():
    pacer = get_component("pacer", "all", epochs=2.5)
    assert pacer.uses_curation is False
    (stage,) = pacer.stages(None, _ids(5))
    assert stage.ids == _ids(5) and stage.epochs == 2.5
    assert get_component("pacer", "all").params.epochs == 1.0
