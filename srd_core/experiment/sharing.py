"""Sharing artifacts between the runs of an experiment whose fingerprints match.

A run gets a hard link (or a copy) of a donor run's ``prepared/`` when both prepare keys agree, then of
its ``reflection.jsonl`` when the reflection keys agree, and the eval rows of the teacher and the initial
student. Sharing never forges a fingerprint: each run's own phases still check every key and recompute
what is stale.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from srd_core.config import SRDConfig
from srd_core.data.samples import load_samples
from srd_core.io import fingerprint, read_jsonl, write_json_atomic, write_jsonl_atomic
from srd_core.rundir import (
    EVAL_FILE,
    PREPARE_MANIFEST_FILE,
    PREPARED_DIR,
    PROVENANCE_DIR,
    REFLECTION_FILE,
    REFLECTION_META_FILE,
    SHARED_FILE,
    TIMINGS_FILE,
)

"""What a run got from its donor (written into the run dir)."""
SHARED_EVAL_MODELS = ("teacher", "student_init")


def share_group(config: SRDConfig) -> str:
    """Runs with the same group can share prepared models and reflections (same models, data, reflection)."""
    from srd_core.models.prepare import needs_prepare, prepare_key  # deferred: torch

    return fingerprint(
        {
            "prepare": prepare_key(config) if needs_prepare(config) else None,
            "teacher": config.teacher.model_dump(mode="json"),
            "student": config.student.model_dump(mode="json"),
            "data": config.data.model_dump(mode="json"),
            "reflection": config.reflection.model_dump(mode="json"),
            "eval": config.eval.model_dump(mode="json"),
        }
    )


def donor_ready(donor_dir: Path) -> bool:
    """Whether a donor run has finished its reflection (so there is something complete to share)."""
    return (donor_dir / REFLECTION_META_FILE).is_file() and (donor_dir / REFLECTION_FILE).is_file()


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link every file of ``src`` under ``dst`` (copy with metadata across file systems); atomic swap."""
    tmp = dst.parent / f".tmp-{dst.name}"
    shutil.rmtree(tmp, ignore_errors=True)

    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, tmp, copy_function=link)
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)


def _link_file(src: Path, dst: Path) -> None:
    tmp = dst.parent / f".tmp-{dst.name}"
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def _share_record(donor: Path, target: Path, phase: str) -> None:
    """The donor's provenance record of ``phase`` (what the shared artifact was made from; still re-checked)."""
    src = donor / PROVENANCE_DIR / f"{phase}.json"
    if src.is_file():
        (target / PROVENANCE_DIR).mkdir(parents=True, exist_ok=True)
        dst = target / PROVENANCE_DIR / f"{phase}.json"
        tmp = dst.parent / f".tmp-{dst.name}"
        shutil.copy2(src, tmp)
        os.replace(tmp, dst)


def _share_prepared(config: SRDConfig, donor: Path, target: Path) -> bool:
    from srd_core.models.prepare import cached, needs_prepare, prepare_key  # deferred: torch

    if not needs_prepare(config):
        return False
    key = prepare_key(config)
    if cached(target, key) is not None or cached(donor, key) is None:
        return False
    _link_tree(donor / PREPARED_DIR, target / PREPARED_DIR)
    _share_record(donor, target, "prepare")
    return True


def _reflection_key(config: SRDConfig, run_dir: Path) -> str | None:
    from srd_core.reflection.reflect import run_reflection_key  # deferred: torch

    try:
        return fingerprint(run_reflection_key(config, run_dir, load_samples(config, "train")))
    except Exception:  # the target's student is not there yet: nothing to share, the run reflects itself
        return None


def _meta_key(run_dir: Path) -> str | None:
    path = run_dir / REFLECTION_META_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("key") if path.is_file() else None
    except (OSError, ValueError):
        return None


def _share_reflection(config: SRDConfig, donor: Path, target: Path) -> bool:
    donor_key = _meta_key(donor)
    if donor_key is None or _meta_key(target) == donor_key or _reflection_key(config, target) != donor_key:
        return False
    _link_file(donor / REFLECTION_FILE, target / REFLECTION_FILE)
    _link_file(donor / REFLECTION_META_FILE, target / REFLECTION_META_FILE)
    _share_record(donor, target, "reflect")
    return True


def _share_evals(donor: Path, target: Path) -> list[str]:
    """The donor's eval rows of the teacher and initial student (the run re-evaluates them if stale)."""
    if (target / EVAL_FILE).is_file() or not (donor / EVAL_FILE).is_file():
        return []
    rows = [r for r in read_jsonl(donor / EVAL_FILE, tolerate_torn_tail=True) if r.get("model") in SHARED_EVAL_MODELS]
    if rows:
        write_jsonl_atomic(target / EVAL_FILE, rows)
        for row in rows:
            _share_record(donor, target, f"evaluate_{row['model']}")
    return [str(r["model"]) for r in rows]


def _seconds(run_dir: Path, phase: str) -> float | None:
    path = run_dir / TIMINGS_FILE
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get(phase) if path.is_file() else None
    except (OSError, ValueError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def share_from(config: SRDConfig, donor: Path, target: Path) -> dict[str, Any]:
    """Give ``target`` what ``donor`` made that matches its fingerprints; record it in ``target/shared.json``."""
    target.mkdir(parents=True, exist_ok=True)
    previous = read_shared(target) or {}
    got = {
        "prepared": _share_prepared(config, donor, target),
        "reflection": _share_reflection(config, donor, target),
        "evaluations": _share_evals(donor, target),
    }
    if not any(got.values()):
        return previous
    record = {**previous, "donor": str(donor)}
    for what, value in got.items():
        if value:
            record[what] = value
    if got["prepared"]:
        record["prepare_s"] = _seconds(donor, "prepare") or _manifest_seconds(donor)
    if got["reflection"]:
        record["reflect_s"] = _seconds(donor, "reflect") or _reflection_seconds(donor)
    write_json_atomic(target / SHARED_FILE, record)
    return record


def _manifest_seconds(run_dir: Path) -> float | None:
    """How long the donor's `prepare` took, from its manifest (its timings.json comes at the end of its run)."""
    try:
        manifest = run_dir / PREPARED_DIR / PREPARE_MANIFEST_FILE
        seconds = json.loads(manifest.read_text(encoding="utf-8")).get("seconds")
    except (OSError, ValueError):
        return None
    return float(seconds) if isinstance(seconds, (int, float)) else None


def _reflection_seconds(run_dir: Path) -> float | None:
    """The donor's own reflection time, from its meta (when its timings were shared too)."""
    try:
        meta = json.loads((run_dir / REFLECTION_META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    seconds = (meta.get("summary") or {}).get("seconds")
    return float(seconds) if isinstance(seconds, (int, float)) else None


def read_shared(run_dir: Path) -> dict[str, Any] | None:
    """``shared.json`` of a run dir, or ``None``."""
    path = run_dir / SHARED_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None
