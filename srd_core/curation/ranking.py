"""Per-metric ranks and the fused order, with the two tie-breaking rules of ``curriculum.tie_break``.

``data_order``: every sort (each metric, then the fused score) starts from data order, so a tie
keeps data order. ``chained``: as the official ``tools/rank.py``, each sort is stable over the
order the previous sort left: the first metric sorts data order, the next metric sorts that order
(its ties follow the first metric), and the fused score sorts the last metric's order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

TIE_BREAKS = ("data_order", "chained")


def stable_order(values: Sequence[float], higher_is_easier: bool, start: Sequence[int]) -> list[int]:
    """``start`` (indices) stable-sorted easiest first: ties keep their order in ``start``."""
    return sorted(start, key=lambda i: values[i], reverse=higher_is_easier)


def ranks_of(order: Sequence[int]) -> list[int]:
    """1-based rank of each index given an order (``order[0]`` has rank 1)."""
    ranks = [0] * len(order)
    for position, index in enumerate(order, start=1):
        ranks[index] = position
    return ranks


def metric_ranks(
    values: Mapping[str, Sequence[float]], higher_is_easier: Mapping[str, bool], tie_break: str
) -> tuple[dict[str, list[int]], list[int]]:
    """(ranks of each metric, in ``values`` order; the order the last sort left) under ``tie_break``."""
    if tie_break not in TIE_BREAKS:
        raise ValueError(f"tie_break {tie_break!r}: expected one of {', '.join(TIE_BREAKS)}")
    data_order = list(range(len(next(iter(values.values()), []))))
    previous = data_order
    ranks: dict[str, list[int]] = {}
    for name, metric_values in values.items():
        previous = stable_order(
            metric_values, higher_is_easier[name], previous if tie_break == "chained" else data_order
        )
        ranks[name] = ranks_of(previous)
    return ranks, previous


def fused_order(fused: Sequence[float], last_order: Sequence[int], tie_break: str) -> list[int]:
    """Indices by fused score, easiest (highest) first; ties as ``tie_break`` says."""
    start = list(last_order) if tie_break == "chained" else list(range(len(fused)))
    return stable_order(fused, True, start)
