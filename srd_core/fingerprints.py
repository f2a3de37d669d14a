"""Content fingerprints of files and directories, models and samples, and the difference between two sets of inputs.

A file's hash is its SHA-256; a directory's hashes every regular file under it (relative path +
file hash). ``HashCache`` keeps each file's hash next to its size, mtime, ctime and inode, so an
unchanged file is not read again (the fast path); any of them changing means the file is hashed
anew (ctime too, because a rewrite that restores size and mtime still moves it).

This module is the one home of the identities that artifact keys hold (reflection.meta.json, the
teacher cache's directory name, prepare.json, curation.meta.json): ``model_identity`` for a model
and ``data_fingerprint`` for samples, beside ``file_digest`` and ``directory_digest``. Their values
are stored in users' run dirs, so a change to what they compute makes those artifacts stale: the
tests pin them (tests/test_fingerprints.py). The dependency rule (srd_core.pipeline.phases) reads
the content hash of the same model directories, so a model rewritten with its sizes and mtimes kept
is caught there, and its artifacts set aside before any of these keys is compared.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from srd_core.io import fingerprint, sha256_text, write_json_atomic
from srd_core.types import Sample

CHUNK = 1 << 20


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (read in full: no cache)."""
    return _sha256_file(Path(path))


def directory_digest(path: str | Path | None) -> str | None:
    """SHA-256 of every file under a directory, relative path and bytes (``None``: no such directory).

    Read in full, without the cache: what ``prepare_key`` holds for a model given by path.
    """
    root = Path(path) if path else None
    if root is None or not root.is_dir():
        return None
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def model_identity(name: str | Path, model_cfg: Any) -> dict[str, Any]:
    """What identifies a model in an artifact's key: path, revision, dtype and (local dir) its files' names,
    sizes, mtimes and the hash of its config.json. ``model_cfg`` is its ``ModelConfig`` (``revision``, ``dtype``)."""
    identity: dict[str, Any] = {"path": str(name), "revision": model_cfg.revision, "dtype": model_cfg.dtype}
    directory = Path(name)
    if directory.is_dir():
        files = []
        for file in sorted(directory.iterdir()):
            if file.is_file():
                stat = file.stat()
                files.append([file.name, stat.st_size, stat.st_mtime_ns])
        identity["files"] = files
        config_file = directory / "config.json"
        if config_file.is_file():
            identity["config_sha256"] = sha256_text(config_file.read_text(encoding="utf-8"))
    return identity


SAMPLE_PARTS = {
    "prompt": lambda s: s.prompt,
    "prompt_sha256": lambda s: sha256_text(s.prompt),
    "references": lambda s: s.references,
    "meta": lambda s: s.meta,
}
"""What ``data_fingerprint`` can hold of each sample, besides its id."""


def data_fingerprint(samples: Sequence[Sample], parts: Sequence[str] = ("prompt_sha256", "references")) -> str:
    """Hash of samples in order: each one's id and ``parts`` (names of ``SAMPLE_PARTS``)."""
    getters = [SAMPLE_PARTS[p] for p in parts]
    return fingerprint([[s.id, *(get(s) for get in getters)] for s in samples])


class HashCache:
    """Content hashes of files, reused while a file's size, mtime, ctime and inode are unchanged."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.entries: dict[str, list[Any]] = {}
        self.dirty = False
        if self.path is not None and self.path.is_file():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
                self.entries = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                self.entries = {}

    def file_hash(self, path: Path) -> str:
        """SHA-256 of a file's bytes (from the cache when size, mtime and inode match)."""
        key = str(Path(path).resolve())
        stat = os.stat(key)
        probe = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]
        entry = self.entries.get(key)
        if entry is not None and entry[:4] == probe:
            return entry[4]
        value = _sha256_file(Path(key))
        self.entries[key] = [*probe, value]
        self.dirty = True
        return value

    def remember(self, path: str | Path, digest: str) -> None:
        """Record the SHA-256 of a file just written (the caller hashed its bytes while writing them)."""
        key = str(Path(path).resolve())
        stat = os.stat(key)
        self.entries[key] = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, digest]
        self.dirty = True

    def content_hash(self, path: str | Path) -> str | None:
        """Hash of a file, or of every file under a directory; ``None`` when ``path`` does not exist."""
        path = Path(path)
        if path.is_file():
            return self.file_hash(path)
        if not path.is_dir():
            return None
        digest = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{file.relative_to(path).as_posix()}\0{self.file_hash(file)}\n".encode())
        return digest.hexdigest()

    def save(self) -> None:
        """Write the cache (atomically) when it learned something new."""
        if self.path is not None and self.dirty:
            live = {k: v for k, v in self.entries.items() if os.path.exists(k)}
            write_json_atomic(self.path, live)
            self.dirty = False


def flatten(value: Any, prefix: str) -> dict[str, Any]:
    """Leaves of a nested mapping as ``{"a.b.c": value}``; lists and scalars are leaves."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}"))
        return out
    return {prefix: value}


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def first_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The first input whose value differs, as ``"train.lr 0.001 → 0.05"`` (``None`` if all match).

    Keys starting with ``"file "`` or ``"code of "`` hold content hashes and are reported as changed, not by
    value (``"code of kd_loss 'fkl' changed"``).
    """
    for key, value in new.items():
        if key in old and old[key] == value:
            continue
        if key.startswith(("file ", "code of ")):
            what = key[len("file ") :] if key.startswith("file ") else key
            if value is None:
                return f"{what} is missing"
            return f"{what} changed" if key in old and old[key] is not None else f"{what} is new"
        if key not in old:
            return f"{key} (not recorded) → {_show(value)}"
        return f"{key} {_show(old[key])} → {_show(value)}"
    for key in old:
        if key not in new:
            what = key[len("file ") :] if key.startswith("file ") else key
            return f"{what} is no longer an input"
    return None
