"""Where each phase of a run dir stands, and the records that say so: the ``Planner`` (complete, stale, to do,
pending, off), the provenance records, stale artifacts set aside, and ``run_phase`` (open, work, close).

What every phase reads and writes is declared in ``srd_core.pipeline.phases``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from srd_core.config import SRDConfig
from srd_core.errors import SRDError
from srd_core.fingerprints import HashCache, first_difference, flatten
from srd_core.io import fingerprint, read_jsonl, write_json_atomic, write_jsonl_atomic
from srd_core.pipeline import code
from srd_core.pipeline.phases import Phase, _without_never_inputs, command_line, phase_rank, phases_for
from srd_core.rundir import EVAL_FILE, HASH_CACHE_FILE, PROVENANCE_DIR, STALE_DIR, STALE_RECORD_FILE

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------ status


@dataclass
class Status:
    """Where one phase stands in a run dir."""

    phase: str
    state: str
    """complete | stale | todo | pending | off"""
    reason: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    recorded: bool = False
    paths: dict[str, str] = field(default_factory=dict)
    """Where each ``file`` input was read from (kept in the record, for `srd report`'s check)."""
    versions: dict[str, str] = field(default_factory=dict)
    """srd's version and that of every plugin distribution whose component computes the artifact."""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.inputs)

    def describe(self) -> str:
        """``stale (train.lr 0.001 → 0.05)``, ``complete``, ``to do``, ..."""
        text = {"todo": "to do", "off": "not used"}.get(self.state, self.state)
        return f"{text} ({self.reason})" if self.reason else text


def record_path(run_dir: Path, name: str) -> Path:
    """Where the record of phase ``name`` lives."""
    return Path(run_dir) / PROVENANCE_DIR / f"{name}.json"


def read_record(run_dir: Path, name: str) -> dict[str, Any] | None:
    """The record of phase ``name``, or ``None`` (missing or unreadable)."""
    path = record_path(run_dir, name)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("inputs"), dict) else None


def hash_cache(run_dir: Path) -> HashCache:
    """The run dir's content-hash cache (size + mtime + inode fast path)."""
    return HashCache(Path(run_dir) / PROVENANCE_DIR / HASH_CACHE_FILE)


def field_inputs(phase: Phase, config: SRDConfig) -> dict[str, Any]:
    """The config leaves ``phase`` reads, by dotted path."""
    dumped = config.model_dump(mode="json")
    inputs: dict[str, Any] = {}
    for path in phase.fields(config):
        node: Any = dumped
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        inputs.update(flatten(node, path))
    return inputs


def current_inputs(
    phase: Phase,
    config: SRDConfig,
    run_dir: Path,
    cache: HashCache,
    paths: dict[str, str] | None = None,
    versions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Everything ``phase`` reads, now: config leaves, content hashes of its files, its code, derived values."""
    inputs = field_inputs(phase, config)
    for label, file in phase.files(config, run_dir).items():
        inputs[f"file {label}"] = cache.content_hash(file)
        if paths is not None:
            paths[f"file {label}"] = _portable(Path(file), run_dir)
    used = code.components(config, phase.components(config) if phase.components else phase.fields(config))
    inputs.update(code.code_inputs(phase.code(config), used))
    if versions is not None:
        versions.update(code.versions(used))
    for name, value in phase.derived(config, run_dir).items():
        inputs[name] = value
    return inputs


def _portable(path: Path, run_dir: Path) -> str:
    """``path`` relative to the run dir when inside it (a moved or copied run dir stays valid), else absolute."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path(run_dir).resolve()).as_posix()
    except ValueError:
        return str(resolved)


def _artifacts(phase: Phase, run_dir: Path) -> list[Path]:
    found: list[Path] = []
    for pattern in phase.outputs:
        found += sorted(run_dir.glob(pattern))
    return found


def has_artifacts(phase: Phase, run_dir: Path) -> bool:
    """Whether any artifact of ``phase`` is on disk (an evaluation: its row in eval.jsonl)."""
    return bool(_artifacts(phase, run_dir)) or (phase.eval_label is not None and phase.done(run_dir))


def _field_default(path: str) -> tuple[bool, Any]:
    """(found, JSON default) of a dotted config field such as ``reflection.no_repeat_ngram_size``."""
    model: Any = SRDConfig
    parts = path.split(".")
    for i, part in enumerate(parts):
        info = getattr(model, "model_fields", {}).get(part)
        if info is None:
            return False, None
        if i == len(parts) - 1:
            if info.is_required():
                return False, None
            default = info.get_default(call_default_factory=True)
            return True, default.model_dump(mode="json") if isinstance(default, BaseModel) else default
        candidates = [info.annotation, *typing.get_args(info.annotation)]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return False, None
    return False, None


def _with_new_defaults(recorded: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """``recorded`` plus fields added to srd since, at their default (they keep the old behaviour).

    A record from before srd recorded code (no ``code of`` input) is taken as made by the installed code.
    """
    merged = dict(recorded)
    if not any(key.startswith(code.CODE_PREFIX) for key in recorded):
        merged.update({k: v for k, v in current.items() if k.startswith(code.CODE_PREFIX)})
    for key, value in current.items():
        if key not in merged and not key.startswith("file "):
            found, default = _field_default(key)
            if found and default == value:
                merged[key] = value
    return merged


class Planner:
    """Statuses of the phases of one config in one run dir (each computed once)."""

    def __init__(self, config: SRDConfig, run_dir: Path, cache: HashCache | None = None) -> None:
        self.config, self.run_dir = config, Path(run_dir)
        self.cache = cache or hash_cache(self.run_dir)
        self.known: dict[str, Status] = {}
        self.phases = phases_for(config)
        self.by_name = {p.name: p for p in self.phases}

    def status(self, name: str) -> Status:
        """The status of phase ``name``; an upstream phase that is not complete makes it ``pending``."""
        if name not in self.by_name:
            raise SRDError(f"no phase {name!r} in this run (its phases: {', '.join(self.by_name)})")
        if name not in self.known:
            self.known[name] = self._status(self.by_name[name])
        return self.known[name]

    def forget(self, name: str) -> None:
        """Drop cached statuses (after ``name`` ran, it and everything downstream may differ)."""
        self.known.clear()

    def _status(self, phase: Phase) -> Status:
        config, run_dir = self.config, self.run_dir
        if not phase.enabled(config):
            return Status(phase.name, "off")
        for upstream in phase.after(config):
            before = self.status(upstream)
            if before.state not in ("complete", "off"):
                return self._pending(phase, upstream, before)
        paths: dict[str, str] = {}
        versions: dict[str, str] = {}
        inputs = current_inputs(phase, config, run_dir, self.cache, paths, versions)
        record = read_record(run_dir, phase.name)
        if record is None:
            if has_artifacts(phase, run_dir):
                return Status(
                    phase.name,
                    "stale",
                    "no record of what its artifacts were made from",
                    inputs,
                    paths=paths,
                    versions=versions,
                )
            return Status(phase.name, "todo", "", inputs, paths=paths, versions=versions)
        recorded = _without_never_inputs(record["inputs"], inputs, config)
        reason = first_difference(_with_new_defaults(recorded, inputs), inputs)
        if reason is not None:
            return Status(phase.name, "stale", reason, inputs, True, paths, versions)
        if record.get("state") != "complete" or not phase.done(run_dir):
            return Status(
                phase.name, "todo", "resumes" if has_artifacts(phase, run_dir) else "", inputs, True, paths, versions
            )
        return Status(phase.name, "complete", "", inputs, True, paths, versions)

    def _pending(self, phase: Phase, upstream: str, before: Status) -> Status:
        """An upstream phase is not complete: stale anyway if a config field it reads changed, else pending."""
        why = before.reason if before.state == "pending" else f"after {upstream}, which is {before.describe()}"
        record = read_record(self.run_dir, phase.name)
        if record is None:
            return Status(phase.name, "pending", why)
        now = field_inputs(phase, self.config)
        old = {
            k: v
            for k, v in _without_never_inputs(record["inputs"], now, self.config).items()
            if k.split(".")[0] in SRDConfig.model_fields
        }
        reason = first_difference(_with_new_defaults(old, now), now)
        return Status(phase.name, "stale" if reason else "pending", reason or why, recorded=True)

    def all(self) -> list[Status]:
        """Every phase in order."""
        return [self.status(p.name) for p in self.phases]


# ------------------------------------------------------------------------------------------ records


def _write_record(run_dir: Path, status: Status, state: str) -> None:
    write_json_atomic(
        record_path(run_dir, status.phase),
        {
            "phase": status.phase,
            "state": state,
            "fingerprint": status.fingerprint,
            "inputs": status.inputs,
            "paths": status.paths,
            "versions": status.versions,
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )


def set_aside(run_dir: Path, phase: Phase) -> Path:
    """Move the phase's artifacts and record to ``.stale/<phase>/`` (replacing the previous ones there)."""
    run_dir = Path(run_dir)
    dest = run_dir / STALE_DIR / phase.name
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for artifact in _artifacts(phase, run_dir):
        target = dest / artifact.relative_to(run_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(artifact, target)
    if phase.eval_label is not None and (run_dir / EVAL_FILE).is_file():
        rows = read_jsonl(run_dir / EVAL_FILE, tolerate_torn_tail=True)
        write_jsonl_atomic(dest / EVAL_FILE, [r for r in rows if r.get("model") == phase.eval_label])
        write_jsonl_atomic(run_dir / EVAL_FILE, [r for r in rows if r.get("model") != phase.eval_label])
    record = record_path(run_dir, phase.name)
    if record.is_file():
        os.replace(record, dest / STALE_RECORD_FILE)
    return dest


def check_upstream(planner: Planner, name: str) -> None:
    """Refuse to run ``name`` on a recorded upstream artifact that no longer matches the config."""
    for upstream in planner.by_name[name].after(planner.config):
        before = planner.status(upstream)
        if before.recorded and before.state in ("stale", "pending"):
            command = command_line(upstream) or "run CONFIG"
            raise SRDError(
                f"{name} reads {upstream}, which is {before.describe()}; run "
                f"`srd {command}` (or `srd run CONFIG`) first"
            )


def open_phase(planner: Planner, name: str, *, main: bool = True, barrier: Callable[[], None] = lambda: None) -> Status:
    """Decide phase ``name``: a stale one is set aside (saying why), then the start is recorded.

    Every process computes the status before the main process changes anything (``barrier``).
    Returns the status; the caller does the work unless it is ``complete`` or ``off``.
    """
    status = planner.status(name)
    barrier()
    if main and status.state in ("stale", "todo") and status.inputs:  # no inputs: decided after its upstream
        if status.state == "stale":
            dest = set_aside(planner.run_dir, planner.by_name[name])
            logger.warning(
                "%s: stale (%s); %s (the old artifacts are in %s)",
                name,
                status.reason,
                planner.by_name[name].verb,
                dest.relative_to(planner.run_dir.parent),
            )
        _write_record(planner.run_dir, status, "started")
        planner.cache.save()
    barrier()
    return status


def close_phase(planner: Planner, status: Status, *, main: bool = True) -> None:
    """Record that the phase completed with the inputs it started from."""
    if main and status.state in ("stale", "todo") and status.inputs:
        _write_record(planner.run_dir, status, "complete")
        planner.cache.save()
    planner.forget(status.phase)


def run_phase(
    planner: Planner,
    name: str,
    work: Callable[[], Any],
    *,
    main: bool = True,
    barrier: Callable[[], None] = lambda: None,
    skip_complete: bool = True,
) -> tuple[Status, Any]:
    """``open_phase``, ``work()`` (not called for a complete phase when ``skip_complete``), ``close_phase``."""
    status = open_phase(planner, name, main=main, barrier=barrier)
    if status.state == "off" or (status.state == "complete" and skip_complete):
        return status, None
    result = work()
    close_phase(planner, status, main=main)
    return status, result


def render_status(planner: Planner) -> str:
    """One line per phase: complete, stale (reason), to do, pending, not used."""
    return "".join(f"  {s.phase:<22} {s.describe()}\n" for s in planner.all())


def consistent(planner: Planner, ignore: tuple[str, ...] = ()) -> bool:
    """Whether every recorded artifact on disk matches this config (nothing stale, nothing built on a stale one)."""
    return all(
        s.state != "stale" and not (s.state == "pending" and s.recorded) for s in planner.all() if s.phase not in ignore
    )


def stale_records(run_dir: Path) -> list[str]:
    """Recorded phases whose input files changed since they completed (no config needed: `srd report`)."""
    run_dir = Path(run_dir)
    cache = hash_cache(run_dir)
    problems = []
    names = sorted(
        (p.stem for p in (run_dir / PROVENANCE_DIR).glob("*.json") if p.name != HASH_CACHE_FILE),
        key=lambda n: (phase_rank(n), n),
    )
    for name in names:
        record = read_record(run_dir, name)
        if record is None or record.get("state") != "complete":
            continue
        for key, where in (record.get("paths") or {}).items():
            if cache.content_hash(run_dir / where) != record["inputs"].get(key):
                problems.append(f"{name} was made from another {key[len('file ') :]} ({where} changed since)")
                break
    return problems
