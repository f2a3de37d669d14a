"""The teacher cache's files on disk: shards hashed as they are written, checked by that digest, space
checked before a build, superseded caches moved aside with a bound.

A shard's fields are written with plain file I/O (never memory-mapped writes, which die by SIGBUS
when the disk fills) to temp files renamed when complete; the SHA-256 of every field file is taken
from the bytes as they are written and stored in the shard's digest file, written last. A shard is
intact while its digest file exists and every field file still hashes to it; hashes are reused while
a file's size, mtime, ctime and inode are unchanged (``HashCache``, the fast path of every other
input), so an untouched cache costs a ``stat`` per file.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from srd_core.errors import TrainingError
from srd_core.fingerprints import HashCache
from srd_core.io import write_json_atomic

logger = logging.getLogger(__name__)

SUPERSEDED_DIR = ".superseded"
"""Under teacher_cache/: the caches of the previous config (a change of T, of the teacher, ...)."""
FULL_DISK = (errno.ENOSPC, errno.EDQUOT)


class NpyWriter:
    """Writes one ``.npy`` array of known shape row block by row block, hashing the bytes it writes."""

    def __init__(self, fh: BinaryIO, dtype: np.dtype, shape: tuple[int, int]) -> None:
        self.fh, self.dtype, self.shape = fh, np.dtype(dtype), shape
        self.digest = hashlib.sha256()
        self.rows = 0
        self._put(npy_header(self.dtype, shape))

    def _put(self, data: bytes | memoryview) -> None:
        self.fh.write(data)
        self.digest.update(data)

    def write(self, rows: np.ndarray) -> None:
        """Append ``rows`` (``[n, width]``), cast to the file's dtype."""
        block = np.ascontiguousarray(rows, dtype=self.dtype)
        if block.ndim != 2 or block.shape[1] != self.shape[1]:
            raise TrainingError(f"teacher cache: rows of shape {tuple(block.shape)} do not fit {self.shape}")
        self._put(block.data.cast("B"))
        self.rows += block.shape[0]

    def finish(self) -> str:
        """Flush to disk and return the file's SHA-256 (every row must have been written)."""
        if self.rows != self.shape[0]:
            raise TrainingError(f"teacher cache: {self.rows} rows written of {self.shape[0]}")
        self.fh.flush()
        os.fsync(self.fh.fileno())
        return self.digest.hexdigest()


def npy_header(dtype: np.dtype, shape: tuple[int, int]) -> bytes:
    """The ``.npy`` (format 1.0) header of a C-ordered array."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        out, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
    )
    return out.getvalue()


def npy_size(dtype: str, shape: tuple[int, int]) -> int:
    """Bytes of a ``.npy`` file holding an array of ``dtype`` and ``shape``."""
    return len(npy_header(np.dtype(dtype), shape)) + np.dtype(dtype).itemsize * shape[0] * shape[1]


def is_disk_full(exc: OSError) -> bool:
    """Whether ``exc`` says the file system (or the user's quota) is full."""
    return exc.errno in FULL_DISK


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_free_space(directory: Path, need: int) -> None:
    """Refuse, before anything is written, a build that cannot fit in the free space at ``directory``."""
    free = shutil.disk_usage(_existing(directory)).free
    if need > free:
        raise TrainingError(
            f"{directory}: the teacher cache needs {need / 1e6:,.2f} MB, only {free / 1e6:,.2f} MB "
            "are free there; free some space (or use a smaller signal, e.g. topk) and rerun"
        )


def disk_full_error(directory: Path, exc: OSError, shard: int | None = None) -> TrainingError:
    """One line for a disk that filled up during the build (the shard's temp files are removed)."""
    where = f" while writing shard {shard}" if shard is not None else ""
    why = os.strerror(exc.errno) if exc.errno is not None else exc
    return TrainingError(
        f"{directory}: the disk filled up{where} ({why}); the finished shards "
        "are kept: free some space and rerun to finish the cache"
    )


def digest_path(directory: Path, shard: int) -> Path:
    """The file holding the SHA-256 of each field file of ``shard``."""
    return directory / f"shard-{shard:05d}.sha256.json"


def write_digests(
    directory: Path, shard: int, digests: Mapping[str, str], files: Mapping[str, Path], hashes: HashCache
) -> None:
    """Record a shard's digests (after its field files) and seed the hash cache with them."""
    write_json_atomic(digest_path(directory, shard), dict(sorted(digests.items())))
    for name, path in files.items():
        hashes.remember(path, digests[name])


def shard_problem(directory: Path, shard: int, files: Mapping[str, Path], hashes: HashCache) -> str | None:
    """Why ``shard`` cannot be used, or None: ``"missing"`` (never finished), else what is wrong and where."""
    record = digest_path(directory, shard)
    if not record.is_file():
        return "missing"
    try:
        digests = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        digests = None
    if not isinstance(digests, dict):
        return f"{record} is unreadable"
    for name, path in files.items():
        if not path.is_file():
            return f"{path} is missing"
        if digests.get(name) != hashes.file_hash(path):
            return (
                f"{path} does not match the content digest recorded when it was written (truncated or changed on disk)"
            )
    return None


def remove_shard(directory: Path, shard: int, files: Iterable[Path]) -> None:
    """Delete a shard's digest file first (it stops counting as intact), then its field files and temp files."""
    digest_path(directory, shard).unlink(missing_ok=True)
    for path in files:
        path.unlink(missing_ok=True)
    for torn in directory.glob(f".shard-{shard:05d}.*.tmp"):  # left by a build killed mid-write
        torn.unlink(missing_ok=True)


def set_aside_superseded(root: Path, keep: Sequence[str]) -> None:
    """Bring back set-aside caches of ``keep``; move every other cache under ``root`` to ``.superseded/``.

    Bound: ``.superseded/`` holds the caches of one earlier config only; the ones it held before
    are deleted when newer ones are moved in.
    """
    aside = root / SUPERSEDED_DIR
    for key in keep:
        if not (root / key).exists() and (aside / key).is_dir():
            os.replace(aside / key, root / key)
            logger.warning("teacher cache %s: reusing the cache set aside in %s", key[:12], aside)
    old = (
        [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".") and d.name not in keep]
        if root.is_dir()
        else []
    )
    if not old:
        return
    shutil.rmtree(aside, ignore_errors=True)
    aside.mkdir(parents=True)
    size = sum(f.stat().st_size for d in old for f in d.rglob("*") if f.is_file())
    for d in old:
        os.replace(d, aside / d.name)
    logger.warning(
        "teacher cache: %d superseded cache(s) (%.1f MB) moved to %s; older ones there deleted",
        len(old),
        size / 1e6,
        aside,
    )
