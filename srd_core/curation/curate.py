"""Curation: difficulty metrics → per-metric ranks → fusion → selection (λ) → curriculum bins.

The ranking is SRD's: each metric ranks every sample (1 = easiest) by a stable sort in its easy
direction; the fused scores are stable-sorted descending (easy first); ties follow data order or,
with ``curriculum.tie_break: chained``, the previous sort's order (``srd_core.curation.ranking``).
The selector keeps the head of that order and the pacer splits the kept samples into bins. A grouping
(``curriculum.groups``) names each sample's group, recorded in curation.jsonl; with
``curriculum.stratify`` the selector and the pacer work within each group (``srd_core.curation.strata``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from srd_core.components import DifficultyMetric, Grouping, Pacer, StagePlan
from srd_core.config import CurriculumConfig, SRDConfig
from srd_core.context import ModelAccess, ScoreTable
from srd_core.curation.ranking import fused_order, metric_ranks, ranks_of, stable_order
from srd_core.curation.remainder import remainder_notice
from srd_core.curation.strata import bin_index, check_groups, stratified_curation
from srd_core.data.samples import load_samples
from srd_core.errors import ConfigError, DataError
from srd_core.fingerprints import data_fingerprint, file_digest
from srd_core.io import fingerprint, read_jsonl, write_json_atomic, write_jsonl_atomic
from srd_core.plugins import get_component, get_registry, pm
from srd_core.rundir import CURATION_FILE, CURATION_META_FILE, REFLECTION_FILE
from srd_core.types import CurationRecord, ReflectionRecord, Sample

CURATION_FORMAT = 1
logger = logging.getLogger(__name__)

_REQUIRED_REFLECTION_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "prompt_hash": (str,),
    "output": (str,),
    "ce": (int, float),
    "prompt_tokens": (int,),
    "response_tokens": (int,),
    "output_tokens": (int,),
}


@dataclass
class CurationResult:
    """The curation records (data order) and what the summary and meta file report besides them."""

    records: list[CurationRecord]
    vetoed: list[str] = field(default_factory=list)
    selection_info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Counts for the CLI and curation.meta.json."""
        return {**summarize(self.records), "vetoed": len(self.vetoed), "selection": self.selection_info}


def rank_by(values: Sequence[float], higher_is_easier: bool) -> list[int]:
    """Ordinal ranks (1 = easiest) from a stable sort in the easy direction; ties keep data order."""
    return ranks_of(stable_order(values, higher_is_easier, range(len(values))))


def build_metrics(curriculum: CurriculumConfig) -> dict[str, DifficultyMetric]:
    """The configured difficulty metrics, keyed by name (names must be unique)."""
    if not curriculum.metrics:
        raise ConfigError("curriculum.metrics: give at least one difficulty metric")
    metrics: dict[str, DifficultyMetric] = {}
    for i, spec in enumerate(curriculum.metrics):
        if spec.name in metrics:
            raise ConfigError(f"curriculum.metrics.{i}.name: metric {spec.name!r} is listed twice")
        metrics[spec.name] = get_component("difficulty_metric", spec.name, **spec.params)
    return metrics


def forms_groups(curriculum: CurriculumConfig) -> bool:
    """Whether the curriculum's grouping splits the samples into groups (``Grouping.forms_groups``)."""
    return cast("type[Grouping]", get_registry().get("grouping", curriculum.groups.name).cls).forms_groups


def build_pacer(spec) -> Pacer:
    """The pacer of a ``ComponentSpec``."""
    return get_component("pacer", spec.name, **spec.params)


def check_alignment(
    samples: Sequence[Sample], reflections: Sequence[ReflectionRecord], source: str = REFLECTION_FILE
) -> None:
    """Raise ``DataError`` unless ``reflections`` has exactly the samples' ids, in the same order."""
    if len(samples) != len(reflections):
        raise DataError(
            f"{source}: {len(reflections)} reflection records for {len(samples)} training samples; "
            "rerun `srd reflect` for this data"
        )
    for line, (sample, reflection) in enumerate(zip(samples, reflections, strict=True), start=1):
        if sample.id != reflection.id:
            raise DataError(
                f"{source}: line {line} has id {reflection.id!r} but training sample {line} is {sample.id!r}; "
                "rerun `srd reflect` for this data"
            )


def _check_values(name: str, values: Sequence[float], ids: Sequence[str], what: str) -> list[float]:
    if len(values) != len(ids):
        raise DataError(f"{what} {name!r} returned {len(values)} values for {len(ids)} samples")
    out: list[float] = []
    for sample_id, value in zip(ids, values, strict=True):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise DataError(f"{what} {name!r}: sample {sample_id!r} has value {value!r}, expected a finite number")
        out.append(float(value))
    return out


def _vetoed_ids(results: Iterable[Any], known: set[str]) -> list[str]:
    vetoed: set[str] = set()
    for result in results:
        if result is None:
            continue
        vetoed.update([result] if isinstance(result, str) else result)
    return sorted(vetoed & known)


def curate_with_info(
    samples: Sequence[Sample],
    reflections: Sequence[ReflectionRecord],
    curriculum: CurriculumConfig,
    model_access: ModelAccess | None = None,
    hook: Any = None,
    config: Any = None,
) -> CurationResult:
    """Score, rank, fuse, select and bin; the records plus vetoes and the selector's info."""
    hook = pm.hook if hook is None else hook
    metrics = build_metrics(curriculum)
    fusion = get_component("fusion", curriculum.fusion.name, **curriculum.fusion.params)
    selector = get_component("selector", curriculum.selector.name, **curriculum.selector.params)
    pacer = build_pacer(curriculum.pacer)
    check_alignment(samples, reflections)
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        raise DataError("training samples: ids are not unique")
    groups = assign_groups(samples, curriculum)

    values: dict[str, list[float]] = {}
    for name, metric in metrics.items():
        if metric.needs_model and model_access is None:
            raise ConfigError(f"curriculum.metrics: {name!r} needs the student model, none was given")
        raw = metric.score(samples, reflections, model_access if metric.needs_model else None)
        values[name] = _check_values(name, raw, ids, "difficulty metric")

    table = ScoreTable(list(samples), list(reflections), {name: list(v) for name, v in values.items()})
    vetoed = _vetoed_ids(hook.reflection_scored(table=table, config=config or curriculum), set(ids))

    directions = {name: metric.higher_is_easier for name, metric in metrics.items()}
    ranks, last_order = metric_ranks(values, directions, curriculum.tie_break)
    fused = _check_values(curriculum.fusion.name, fusion.fuse(ranks), ids, "fusion")
    order = fused_order(fused, last_order, curriculum.tie_break)
    final_rank = ranks_of(order)

    vetoed_set = set(vetoed)
    eligible = [i for i in order if ids[i] not in vetoed_set]
    if curriculum.stratify:
        strata = stratified_curation(eligible, groups, ids, selector, pacer, fused, values)
        kept_ids, bin_of, selection_info = strata.kept_ids, strata.bin_of, strata.info
    else:
        selection = selector.select(eligible, fused, values)
        if not 0 <= selection.n_keep <= len(eligible):
            raise DataError(f"selector {curriculum.selector.name!r} kept {selection.n_keep} of {len(eligible)} samples")
        kept_ids = [ids[i] for i in eligible[: selection.n_keep]]
        selection_info = dict(selection.info)
        bin_of = _bin_index(pacer, curriculum.pacer.name, kept_ids)
    if ids and not kept_ids:
        raise DataError(f"selector {curriculum.selector.name!r} kept none of the {len(eligible)} samples")
    recorded = forms_groups(curriculum)

    kept_set = set(kept_ids)
    records = [
        CurationRecord(
            id=sample_id,
            values={name: values[name][i] for name in metrics},
            ranks={name: ranks[name][i] for name in metrics},
            fused=fused[i],
            rank=final_rank[i],
            kept=sample_id in kept_set,
            bin=bin_of.get(sample_id),
            group=groups[i] if recorded else None,
        )
        for i, sample_id in enumerate(ids)
    ]
    return CurationResult(records, vetoed, selection_info)


def assign_groups(samples: Sequence[Sample], curriculum: CurriculumConfig) -> list[str]:
    """The group of every sample under ``curriculum.groups``."""
    grouping = get_component("grouping", curriculum.groups.name, **curriculum.groups.params)
    return check_groups(grouping.assign(list(samples)), [s.id for s in samples], curriculum.groups.name)


def _bin_index(pacer: Pacer, name: str, kept_ids: list[str]) -> dict[str, int]:
    if not kept_ids:
        return {}
    try:
        bins = pacer.bins(kept_ids)
    except ValueError as exc:
        raise DataError(f"curriculum.pacer {name!r}: {exc}") from None
    return bin_index(bins, set(kept_ids), name)


def curate(
    samples: Sequence[Sample],
    reflections: Sequence[ReflectionRecord],
    curriculum_cfg: CurriculumConfig,
    model_access: ModelAccess | None = None,
    hook: Any = None,
    config: Any = None,
) -> list[CurationRecord]:
    """One ``CurationRecord`` per sample, in data order (see ``curate_with_info``)."""
    return curate_with_info(samples, reflections, curriculum_cfg, model_access, hook, config).records


def summarize(records: Sequence[CurationRecord]) -> dict[str, Any]:
    """Total, kept and binned counts and the size of each bin."""
    n_bins = max((r.bin for r in records if r.bin is not None), default=-1) + 1
    sizes = [0] * n_bins
    for r in records:
        if r.bin is not None:
            sizes[r.bin] += 1
    return {
        "total": len(records),
        "kept": sum(r.kept for r in records),
        "binned": sum(sizes),
        "bin_sizes": sizes,
    }


def plan_stages(
    pacer: Pacer, curation_records: Sequence[CurationRecord] | None, all_ids: Sequence[str]
) -> list[StagePlan]:
    """The training stages of ``pacer``: from the recorded bins (in rank order), or from all ids."""
    if not pacer.uses_curation:
        return pacer.stages(None, list(all_ids))
    if not curation_records:
        raise DataError(f"pacer {pacer.name!r} needs curation.jsonl: run `srd curate` first")
    known = set(all_ids)
    binned = sorted(((r.bin, r) for r in curation_records if r.bin is not None), key=lambda p: (p[0], p[1].rank))
    n_bins = max((b for b, _ in binned), default=-1) + 1
    bins: list[list[str]] = [[] for _ in range(n_bins)]
    for b, r in binned:
        if r.id not in known:
            raise DataError(f"curation.jsonl: sample {r.id!r} is not in the training data; rerun `srd curate`")
        bins[b].append(r.id)
    if any(not b for b in bins):
        raise DataError("curation.jsonl: a bin is empty; rerun `srd curate`")
    try:
        return pacer.stages(bins, list(all_ids))
    except ValueError as exc:
        raise DataError(f"curation.jsonl does not fit pacer {pacer.name!r}: {exc}; rerun `srd curate`") from None


# --- artifacts --------------------------------------------------------------------------------


def read_reflections(path: Path) -> list[ReflectionRecord]:
    """Parse reflection.jsonl; a malformed line is a ``DataError`` naming file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: not found; run `srd reflect CONFIG` first")
    records: list[ReflectionRecord] = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            row = _parse_json_line(path, line_no, line)
            for name, types in _REQUIRED_REFLECTION_FIELDS.items():
                if name not in row:
                    raise DataError(f"{path}: line {line_no}: field {name!r} is missing")
                value = row[name]
                if isinstance(value, bool) or not isinstance(value, types):
                    expected = " or ".join(t.__name__ for t in types)
                    raise DataError(
                        f"{path}: line {line_no}: field {name!r} should be {expected}, got {type(value).__name__}"
                    )
            records.append(ReflectionRecord.from_dict(row))
    return records


def _parse_json_line(path: Path, line_no: int, line: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: line {line_no}: not valid JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise DataError(f"{path}: line {line_no}: expected a JSON object")
    return row


def load_curation(run_dir: Path) -> list[CurationRecord]:
    """The records of run_dir/curation.jsonl, in data order."""
    path = Path(run_dir) / CURATION_FILE
    if not path.is_file():
        raise DataError(f"{path}: not found; run `srd curate CONFIG` first")
    records = []
    for line_no, row in enumerate(read_jsonl(path), start=1):
        try:
            records.append(CurationRecord.from_dict(row))
        except KeyError as exc:
            raise DataError(f"{path}: line {line_no}: field {exc.args[0]!r} is missing") from None
    return records


def curation_fingerprint(reflection_path: Path, curriculum: CurriculumConfig, samples: Sequence[Sample]) -> str:
    """Cache key of curation.jsonl: the reflection file, the curriculum config and the samples (with the
    sample fields a ``field`` grouping reads)."""
    key = {
        "format": CURATION_FORMAT,
        "reflection": file_digest(reflection_path),
        "curriculum": curriculum.model_dump(mode="json"),
        "samples": data_fingerprint(samples, ("references",)),
    }
    if forms_groups(curriculum):
        key["sample_meta"] = data_fingerprint(samples, ("prompt", "meta"))
    return fingerprint(key)


def _student_access(config: SRDConfig, run_dir: Path) -> ModelAccess:
    from srd_core.models.loading import load_causal_lm, load_tokenizer, resolve_model_path  # deferred: torch

    name = resolve_model_path(config.student, run_dir, "student")
    model = load_causal_lm(config.student, name, "student")
    model.eval()
    return ModelAccess(model=model, tokenizer=load_tokenizer(config.student, name, "student"), config=config)


def run_curation(
    config: SRDConfig,
    run_dir: Path,
    samples: Sequence[Sample] | None = None,
    out_dir: Path | None = None,
) -> list[CurationRecord]:
    """Curate run_dir/reflection.jsonl into out_dir/curation.jsonl (skipped when inputs are unchanged).

    ``out_dir`` defaults to the run dir (an arm with a curriculum of its own: ``curation-<arm>/``).
    Returns the records in data order; ``curation_summary(out_dir)`` gives the counts.
    """
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir
    reflection_path = run_dir / REFLECTION_FILE
    out_path, meta_path = out_dir / CURATION_FILE, out_dir / CURATION_META_FILE
    reflections = read_reflections(reflection_path)
    if samples is None:
        samples = load_samples(config, "train")
    key = curation_fingerprint(reflection_path, config.curriculum, samples)
    if out_path.is_file() and _read_meta(meta_path).get("fingerprint") == key:
        return load_curation(out_dir)
    curriculum = config.curriculum
    needs_model = any(m.needs_model for m in build_metrics(curriculum).values())
    access = _student_access(config, run_dir) if needs_model else None
    result = curate_with_info(samples, reflections, curriculum, model_access=access, config=config)
    meta_path.unlink(missing_ok=True)  # a stale meta must never vouch for a new curation.jsonl
    write_jsonl_atomic(out_path, (r.to_dict() for r in result.records))
    write_json_atomic(
        meta_path,
        {
            "fingerprint": key,
            "format": CURATION_FORMAT,
            "curriculum": curriculum.model_dump(mode="json"),
            "summary": result.summary(),
            "vetoed_ids": result.vetoed,
        },
    )
    summary = result.summary()
    notice = remainder_notice(summary["kept"], summary["bin_sizes"], curriculum.pacer.params)
    if notice:
        logger.warning("curation: %s", notice)
    return result.records


def curation_summary(run_dir: Path) -> dict[str, Any]:
    """Counts of the curation in run_dir (total, kept, binned, bin sizes, vetoed, selection info)."""
    run_dir = Path(run_dir)
    summary = _read_meta(run_dir / CURATION_META_FILE).get("summary")
    if isinstance(summary, dict):
        return summary
    return {**summarize(load_curation(run_dir)), "vetoed": 0, "selection": {}}


def _read_meta(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return meta if isinstance(meta, dict) else {}
