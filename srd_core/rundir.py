"""The layout of a run directory: the name of every artifact, and where prepared models live."""

from __future__ import annotations

from pathlib import Path

from srd_core.config import ModelConfig
from srd_core.errors import SRDError

REFLECTION_FILE = "reflection.jsonl"
REFLECTION_META_FILE = "reflection.meta.json"
REFLECTION_PARTIAL_GLOB = "reflection.partial*.jsonl"
CURATION_FILE = "curation.jsonl"
CURATION_META_FILE = "curation.meta.json"
SAMPLES_META_FILE = "samples_meta.jsonl"
TIMINGS_FILE = "timings.json"
EVAL_FILE = "eval.jsonl"
EVAL_SETS_FILE = "eval_sets.jsonl"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
TEACHER_CACHE_DIR = "teacher_cache"
CONFIG_FILE = "config.yaml"
REPORT_FILE = "report.html"
PLOTS_DIR = "plots"
PREPARED_DIR = "prepared"
PROVENANCE_DIR = "provenance"
"""One record per phase: the fingerprint of its inputs and their values (see pipeline/planner.py)."""
STALE_DIR = ".stale"
"""Where the last stale artifacts of each phase are kept when the phase is recomputed."""
LOCK_FILE = ".lock"
DEV_EVAL_FILE = "dev_eval.jsonl"
BEST_DIR = "best"
BEST_FILE = "best_checkpoints.json"
PREPARE_MANIFEST_FILE = "prepare.json"
"""In ``prepared/``: the key, roles and training record of the prepared models."""
PREPARED_TOKENIZER_DIR = "tokenizer"
"""In ``prepared/``, beside one folder per prepared role: the trained tokenizer."""
FINAL_DIR = "final"
"""In an arm's folder: its trained student."""
CHECKPOINTS_DIR = "checkpoints"
"""In an arm's folder: its resumable training checkpoints."""
HASH_CACHE_FILE = "hashes.json"
"""In ``provenance/``: the content hashes of input files, keyed by size + mtime (not a phase record)."""
TEACHER_CACHE_HASHES_FILE = "teacher_cache_hashes.json"
"""In ``provenance/``: the content hashes of the teacher cache's shard files with their size, mtime, ctime and inode."""
STALE_RECORD_FILE = "record.json"
"""In ``.stale/<phase>/``: the record of the phase whose artifacts were set aside."""
ARMS_CONFIG_FILE = ".arms-config.json"
"""The config parallel arms read (written by ``srd run`` before it starts them)."""
SHARED_FILE = "shared.json"
"""What ``srd experiment`` linked into this run from another run of the same experiment."""


def prepared_dir(run_dir: Path, role: str) -> Path:
    """Where the `prepare` phase saves a preset model for ``role`` ("teacher" or "student")."""
    return Path(run_dir) / PREPARED_DIR / role


def reflection_partial_file(rank: int) -> str:
    """The partial reflection rows of process ``rank`` while the pass runs (matched by ``REFLECTION_PARTIAL_GLOB``)."""
    return "reflection.partial.jsonl" if rank == 0 else f"reflection.partial.rank{rank}.jsonl"


def resolve_model_path(cfg: ModelConfig, run_dir: Path, role: str) -> str:
    """The directory or hub id to load for ``role``: ``path``, or the prepared preset in the run dir."""
    if cfg.path is not None:
        return cfg.path
    directory = prepared_dir(run_dir, role)
    if not (directory / "config.json").is_file():
        raise SRDError(f"{role}: preset {cfg.preset!r} has not been prepared yet (run `srd run` or `srd prepare`)")
    return str(directory)


RUN_DIR_MARKERS = (
    CONFIG_FILE,
    EVAL_FILE,
    METRICS_FILE,
    SUMMARY_FILE,
    REFLECTION_FILE,
    CURATION_FILE,
    TIMINGS_FILE,
    PROVENANCE_DIR,
)
"""Artifacts of which a run directory holds at least one (`srd report` refuses a directory with none)."""
