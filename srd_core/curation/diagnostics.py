"""Curation diagnostics per group: samples, kept share, share of each bin, and training passes vs the baseline.

A training pass is one sample seen once: SRD gives a group ``Σ_stages epochs(stage) × |group ∩ stage|``
passes, the baseline ``Σ_stages epochs × |group ∩ stage|`` over its own stages (all data, E epochs,
for the ``all`` pacer). ``relative_passes`` is their ratio. Both pacers are the configured components,
so any pacer that follows the contract is counted the same way. With ``baseline.match_srd_steps`` the
baseline's passes are scaled to SRD's total, as its step count is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel

from srd_core.components import StagePlan
from srd_core.config import BaselineConfig, ComponentSpec, CurriculumConfig, SRDConfig
from srd_core.curation.curate import build_pacer, plan_stages
from srd_core.errors import SRDError
from srd_core.types import CurationRecord

logger = logging.getLogger(__name__)

ALL_GROUPS = "all samples"


@dataclass
class GroupRow:
    """One group's numbers (or, named ``all samples``, the whole training set's)."""

    group: str
    samples: int
    kept: int
    kept_share: float
    bin_counts: list[int]
    """The group's samples in each bin (bin 1 first)."""
    bin_shares: list[float]
    """The group's share of each bin."""
    srd_passes: float
    baseline_passes: float
    relative_passes: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GroupDiagnostics:
    """Every group's row, largest group first, and the row of all samples."""

    groups: list[GroupRow]
    total: GroupRow

    def to_dict(self) -> dict[str, Any]:
        return {"groups": [g.to_dict() for g in self.groups], "total": self.total.to_dict()}


def _passes(stages: Sequence[StagePlan], group_of: Mapping[str, str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for stage in stages:
        for sample_id in stage.ids:
            group = group_of.get(sample_id)
            if group is not None:
                out[group] = out.get(group, 0.0) + stage.epochs
    return out


def group_diagnostics(
    records: Sequence[CurationRecord],
    group_of: Mapping[str, str],
    srd_stages: Sequence[StagePlan],
    baseline_stages: Sequence[StagePlan],
    match_srd_passes: bool = False,
) -> GroupDiagnostics:
    """The per-group numbers of a curation, given each sample's group and both arms' stages."""
    n_bins = max((r.bin for r in records if r.bin is not None), default=-1) + 1
    bin_sizes = [0] * n_bins
    for r in records:
        if r.bin is not None:
            bin_sizes[r.bin] += 1
    srd, base = _passes(srd_stages, group_of), _passes(baseline_stages, group_of)
    srd_total, base_total = sum(srd.values()), sum(base.values())
    scale = srd_total / base_total if match_srd_passes and base_total else 1.0

    def row(name: str, members: list[CurationRecord], srd_p: float, base_p: float) -> GroupRow:
        in_bin = [0] * n_bins
        for r in members:
            if r.bin is not None:
                in_bin[r.bin] += 1
        kept = sum(r.kept for r in members)
        return GroupRow(
            group=name,
            samples=len(members),
            kept=kept,
            kept_share=kept / len(members) if members else 0.0,
            bin_counts=in_bin,
            bin_shares=[in_bin[b] / bin_sizes[b] if bin_sizes[b] else 0.0 for b in range(n_bins)],
            srd_passes=srd_p,
            baseline_passes=base_p * scale,
            relative_passes=srd_p / (base_p * scale) if base_p else None,
        )

    members: dict[str, list[CurationRecord]] = {}
    for r in records:
        if r.id in group_of:
            members.setdefault(group_of[r.id], []).append(r)
    rows = [row(g, m, srd.get(g, 0.0), base.get(g, 0.0)) for g, m in members.items()]
    rows.sort(key=lambda g: (-g.samples, g.group))
    grouped = [r for rs in members.values() for r in rs]
    return GroupDiagnostics(rows, row(ALL_GROUPS, grouped, srd_total, base_total))


def recorded_groups(records: Sequence[CurationRecord]) -> dict[str, str] | None:
    """id → group as curation.jsonl records it (None when the curation has no groups)."""
    if not records or any(r.group is None for r in records):
        return None
    return {r.id: r.group for r in records if r.group is not None}


def stages_of(
    curriculum: CurriculumConfig, baseline: BaselineConfig, records: Sequence[CurationRecord]
) -> tuple[list[StagePlan], list[StagePlan]]:
    """(SRD's stages, the baseline's stages) as training would plan them from ``records``."""
    ids = [r.id for r in records]
    return (
        plan_stages(build_pacer(curriculum.pacer), records, ids),
        plan_stages(build_pacer(baseline.pacer), records, ids),
    )


def diagnostics_for(
    curriculum: CurriculumConfig,
    baseline: BaselineConfig,
    records: Sequence[CurationRecord],
    group_of: Mapping[str, str] | None = None,
) -> GroupDiagnostics | None:
    """The diagnostics of a run's curation (groups: ``group_of``, else the recorded ones; None without any)."""
    group_of = group_of if group_of is not None else recorded_groups(records)
    if not group_of:
        return None
    srd_stages, baseline_stages = stages_of(curriculum, baseline, records)
    return group_diagnostics(records, group_of, srd_stages, baseline_stages, baseline.match_srd_steps)


def log_group_table(config: SRDConfig, records: Sequence[CurationRecord]) -> None:
    """The per-group diagnostics on the console (the ``srd_core`` logger), when the curation has groups."""
    diag = diagnostics_for(config.curriculum, config.baseline, records)
    if diag is not None:
        how = "stratified" if config.curriculum.stratify else "global ranking"
        logger.info(
            "curation per group (%s)\n%s\nkept: share of the group kept; bin b: the group's share of "
            "bin b;\npasses: SRD's training passes over the group / the baseline's",
            how,
            format_table(diag),
        )


def diagnostics_from_dicts(
    config: Mapping[str, Any] | None, rows: Sequence[Mapping[str, Any]], group_of: Mapping[str, str] | None = None
) -> GroupDiagnostics | None:
    """As ``diagnostics_for`` from a run's config.yaml and curation.jsonl rows (reports, experiments)."""
    config = config or {}
    curriculum = CurriculumConfig(pacer=_spec((config.get("curriculum") or {}).get("pacer"), CurriculumConfig))
    raw_baseline = config.get("baseline") or {}
    baseline = BaselineConfig(
        pacer=_spec(raw_baseline.get("pacer"), BaselineConfig),
        match_srd_steps=bool(raw_baseline.get("match_srd_steps", False)),
    )
    records = [CurationRecord.from_dict(dict(r)) for r in rows]
    return diagnostics_for(curriculum, baseline, records, group_of)


def run_diagnostics(
    config: Mapping[str, Any] | None,
    rows: Sequence[Mapping[str, Any]],
    samples_meta: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[GroupDiagnostics, str, bool] | None:
    """(diagnostics, where the groups came from, whether curation recorded them) of a run: the groups
    curation.jsonl records, else the task
    family of every sample's metadata (so a global ranking that starves a family shows without re-curating);
    None when neither is there or the run's files do not fit together (an older or hand-edited run)."""
    if not rows:
        return None
    recorded = all(r.get("group") is not None for r in rows)
    group_of = None
    if not recorded:
        meta = samples_meta or {}
        ids = [str(r.get("id")) for r in rows]
        if not all((meta.get(i) or {}).get("family") is not None for i in ids):
            return None
        group_of = {i: str(meta[i]["family"]) for i in ids}
    try:
        diag = diagnostics_from_dicts(config, rows, group_of)
    except (SRDError, ValueError, KeyError, TypeError):
        return None
    if diag is None:
        return None
    groups = ((config or {}).get("curriculum") or {}).get("groups") or {}
    default = CurriculumConfig.model_fields["groups"].get_default(call_default_factory=True).name
    name = groups.get("name", default) if isinstance(groups, dict) else str(groups)
    return diag, (f"curriculum.groups: {name}" if recorded else "task family, from the sample metadata"), recorded


def _spec(raw: Any, section: type[BaseModel]) -> ComponentSpec:
    if raw is None:
        return section.model_fields["pacer"].get_default(call_default_factory=True)
    return ComponentSpec.model_validate(raw)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def format_table(diag: GroupDiagnostics) -> str:
    """The diagnostics as an aligned plain-text table (the console's)."""
    n_bins = len(diag.total.bin_shares)
    header = ["group", "samples", "kept", *(f"bin {b + 1}" for b in range(n_bins)), "passes"]
    body = [
        [
            g.group,
            str(g.samples),
            _percent(g.kept_share),
            *(_percent(s) for s in g.bin_shares),
            _percent(g.relative_passes),
        ]
        for g in diag.groups
    ]
    t = diag.total
    body.append(
        [
            t.group,
            str(t.samples),
            _percent(t.kept_share),
            *(f"n={c}" for c in t.bin_counts),
            _percent(t.relative_passes),
        ]
    )
    widths = [max(len(line[c]) for line in [header, *body]) for c in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if c == 0 else cell.rjust(w) for c, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in [header, *body]
    ]
    return "\n".join(lines)
