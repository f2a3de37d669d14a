"""Stratified curation (``curriculum.stratify: true``): the selector and the pacer's bins within each group.

Every group's samples keep their order in the global easy→hard ranking; the selector keeps its share of
each group and the pacer cuts each group's kept samples into bins; bin ``b`` of every group is merged
into bin ``b`` (stage ``b`` of a cumulative pacer). Any selector and pacer that follow the component
contract work: they are called once per group, exactly as they are called once for all data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from srd_core.components import Pacer, Selector
from srd_core.errors import DataError


@dataclass
class StratifiedCuration:
    """The kept ids (global rank order), each kept id's bin, and the selector's info per group."""

    kept_ids: list[str]
    bin_of: dict[str, int]
    info: dict[str, Any] = field(default_factory=dict)


def group_names(groups: Sequence[str]) -> list[str]:
    """The distinct group names, in order of their first sample."""
    return list(dict.fromkeys(groups))


def check_groups(groups: Sequence[Any], ids: Sequence[str], grouping: str) -> list[str]:
    """The grouping's result as one non-empty string per sample; anything else is a ``DataError``."""
    if len(groups) != len(ids):
        raise DataError(f"grouping {grouping!r} returned {len(groups)} groups for {len(ids)} samples")
    for sample_id, group in zip(ids, groups, strict=True):
        if not isinstance(group, str) or not group:
            raise DataError(
                f"grouping {grouping!r}: sample {sample_id!r} has group {group!r}, expected a non-empty string"
            )
    return list(groups)


def stratified_curation(
    eligible: Sequence[int],
    groups: Sequence[str],
    ids: Sequence[str],
    selector: Selector,
    pacer: Pacer,
    fused: Sequence[float],
    values: Mapping[str, Sequence[float]],
) -> StratifiedCuration:
    """Select and bin each group's part of ``eligible`` (sample indices, easy→hard) and merge the bins."""
    members: dict[str, list[int]] = {}
    for i in eligible:
        members.setdefault(groups[i], []).append(i)
    kept_index: set[int] = set()
    merged: list[list[str]] | None = None
    info: dict[str, Any] = {}
    for group in group_names([groups[i] for i in eligible]):
        order = members[group]
        selection = selector.select(order, fused, values)
        if not 0 <= selection.n_keep <= len(order):
            raise DataError(
                f"selector {selector.name!r} kept {selection.n_keep} of the {len(order)} samples of group {group!r}"
            )
        info[group] = {"kept": selection.n_keep, "of": len(order), **selection.info}
        kept = order[: selection.n_keep]
        if not kept:
            continue
        kept_index.update(kept)
        try:
            bins = pacer.bins([ids[i] for i in kept])
        except ValueError as exc:
            raise DataError(
                f"curriculum.stratify: group {group!r}, pacer {pacer.name!r}: {exc}; use fewer bins or coarser groups"
            ) from None
        if merged is None:
            merged = [[] for _ in bins]
        if len(bins) != len(merged):
            raise DataError(
                f"curriculum.stratify: pacer {pacer.name!r} made {len(bins)} bins for group {group!r} "
                f"but {len(merged)} for the groups before it"
            )
        for b, bin_ids in enumerate(bins):
            merged[b].extend(bin_ids)
    kept_ids = [ids[i] for i in eligible if i in kept_index]
    return StratifiedCuration(kept_ids, bin_index(merged or [], set(kept_ids), pacer.name), {"groups": info})


def bin_index(bins: Sequence[Sequence[str]], kept: set[str], name: str) -> dict[str, int]:
    """Sample id → its bin; a sample a pacer binned although not kept, or twice, is a one-line error."""
    bin_of: dict[str, int] = {}
    for b, bin_ids in enumerate(bins):
        for sample_id in bin_ids:
            if sample_id not in kept or sample_id in bin_of:
                raise DataError(f"pacer {name!r} put {sample_id!r} in bin {b}: not kept, or already binned")
            bin_of[sample_id] = b
    return bin_of
