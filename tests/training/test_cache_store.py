"""The teacher cache proves its bytes: corrupt and truncated shards are rebuilt, a full disk is one line,
superseded caches are moved aside with a bound. Real files; real processes and a real tmpfs for the disk."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from tiny_run import make_workspace, write_config, write_curation

from srd_core.config import load_config
from srd_core.data.samples import load_samples
from srd_core.training.cache_store import SUPERSEDED_DIR, digest_path
from srd_core.training.teacher_cache import META_FILE, build_teacher_caches

IDS = [f"s{i}" for i in range(24)]
BABY_STEP = {"pacer": {"name": "baby_step", "num_bins": 3, "epochs_per_stage": 1}}
STAGEWISE = {
    "temperature": {"name": "stagewise", "values": [1.0, 1.5, 2.0]},
    "sft_weight": {"name": "stagewise", "values": [0.3, 0.2, 0.1]},
}
WORKER = Path(__file__).resolve().parent.parent / "cache_worker.py"
SRD = str(Path(sys.executable).parent / "srd")
ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "SRD_LOAD_PLUGINS": "",
    "TQDM_DISABLE": "1",
}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("store"))


def _config_file(
    ws: Path, name: str, signal=None, temperatures=(1.0, 1.5, 2.0), output_dir: Path | None = None
) -> Path:
    run_root = output_dir or ws
    write_curation(run_root / name, IDS)
    train = {
        **STAGEWISE,
        "temperature": {"name": "stagewise", "values": list(temperatures)},
        "teacher_signal": signal or {"name": "topk", "k": 8},
    }
    path = write_config(ws, name, curriculum=BABY_STEP, train=train, run={"name": name, "output_dir": str(run_root)})
    return path


def _build(config_path: Path):
    config = load_config(config_path)
    (result,) = build_teacher_caches(config, config.run.dir, load_samples(config, "train"))
    return result


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def _worker(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(WORKER), str(config)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )


def test_a_shard_changed_in_place_at_the_same_size_is_rebuilt_saying_so(ws, caplog):
    path = _config_file(ws, "reversed")
    first = _build(path)
    clean = _files(first.directory)
    shard = first.directory / "shard-00001.values.npy"
    rows = np.load(shard)
    with open(shard, "r+b") as fh:  # the rows reversed in place: same size, same inode
        header = len(clean[shard.name]) - rows.nbytes
        fh.seek(header)
        fh.write(np.ascontiguousarray(rows[::-1]).tobytes())
    assert shard.stat().st_size == len(clean[shard.name]) and shard.read_bytes() != clean[shard.name]

    with caplog.at_level(logging.WARNING):
        again = _build(path)
    lines = [r.getMessage() for r in caplog.records if "content digest" in r.getMessage()]
    assert lines == [
        f"teacher cache: {shard} does not match the content digest recorded when it was written "
        "(truncated or changed on disk); rebuilding shard 1"
    ]
    assert again.built_shards == 1 and again.directory == first.directory
    assert _files(first.directory) == clean


def test_a_truncated_shard_is_rebuilt_by_the_next_run_not_a_crash_on_every_run(ws):
    path = _config_file(ws, "truncated")
    first = _build(path)
    clean = _files(first.directory)
    shard = first.directory / "shard-00003.tail.npy"
    os.truncate(shard, shard.stat().st_size // 2)
    done = _worker(path)
    assert done.returncode == 0, done.stdout
    assert f"{shard} does not match the content digest" in done.stdout
    assert "built=1 reused=4" in done.stdout and "Traceback" not in done.stdout
    assert _files(first.directory) == clean
    again = _worker(path)  # and the next run finds it intact
    assert again.returncode == 0 and "built=0" in again.stdout and "content digest" not in again.stdout


def test_a_lost_digest_file_rebuilds_its_shard(ws, caplog):
    path = _config_file(ws, "no-digest")
    first = _build(path)
    clean = _files(first.directory)
    digest_path(first.directory, 2).unlink()
    with caplog.at_level(logging.WARNING):
        assert _build(path).built_shards == 1
    assert f"teacher cache: {digest_path(first.directory, 2)} is missing; rebuilding shard 2" in caplog.messages
    assert _files(first.directory) == clean


def test_superseded_caches_are_moved_aside_and_only_one_earlier_config_is_kept(ws, caplog):
    runs = ws / "keys"
    a = _build(_config_file(ws, "keyed", temperatures=(1.0, 1.5, 2.0), output_dir=runs))
    root = a.directory.parent
    with caplog.at_level(logging.WARNING):
        b = _build(_config_file(ws, "keyed", temperatures=(1.0, 2.0, 3.0), output_dir=runs))
    assert b.directory != a.directory
    assert any("1 superseded cache(s)" in r.getMessage() and SUPERSEDED_DIR in r.getMessage() for r in caplog.records)
    assert sorted(d.name for d in root.iterdir() if d.is_dir() and d.name != SUPERSEDED_DIR) == [b.directory.name]
    assert [d.name for d in (root / SUPERSEDED_DIR).iterdir()] == [a.directory.name]
    # back to the previous T: the set-aside cache comes back whole, nothing is recomputed
    back = _build(_config_file(ws, "keyed", temperatures=(1.0, 1.5, 2.0), output_dir=runs))
    assert back.directory == a.directory and back.built_shards == 0
    assert [d.name for d in (root / SUPERSEDED_DIR).iterdir()] == [b.directory.name]
    # a third T: the bound holds (the cache of one earlier config is kept, older ones are deleted)
    c = _build(_config_file(ws, "keyed", temperatures=(2.0, 2.5, 3.0), output_dir=runs))
    assert [d.name for d in (root / SUPERSEDED_DIR).iterdir()] == [a.directory.name]
    assert sorted(d.name for d in root.iterdir() if d.is_dir() and d.name != SUPERSEDED_DIR) == [c.directory.name]


# ------------------------------------------------------------------------------------------ a full disk

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("mount") is None, reason="mounting a small tmpfs (a real full disk) needs root"
)


@pytest.fixture
def small_disk(tmp_path):
    """A 96 KiB tmpfs (the full-logit cache of the tiny run needs about 150 kB), unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _last_line(output: str) -> str:
    return [line for line in output.splitlines() if line.strip()][-1]


@needs_root
def test_too_little_free_space_is_one_line_before_anything_is_written(ws, small_disk):
    path = _config_file(ws, "full-before", signal={"name": "full"}, output_dir=small_disk)
    done = subprocess.run(
        [SRD, "train", str(path)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600
    )
    assert done.returncode == 2, done.stdout
    assert "Traceback" not in done.stdout
    assert "the teacher cache needs" in _last_line(done.stdout) and "MB are free there" in _last_line(done.stdout)
    cache = small_disk / "full-before" / "teacher_cache"
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))


@needs_root
def test_a_disk_that_fills_up_during_the_build_is_one_line_and_exit_2_not_sigbus(ws, small_disk, tmp_path):
    path = _config_file(ws, "full-during", signal={"name": "full"}, output_dir=small_disk)
    # the free-space check is told the disk is large, so the build starts and meets the real ENOSPC
    script = tmp_path / "fill.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys
        from srd_core.training import cache_store
        cache_store.check_free_space = lambda directory, need: None
        from srd_core.cli import main
        sys.argv = ["srd", "train", {str(path)!r}]
        main()
    """)
    )
    done = subprocess.run(
        [sys.executable, str(script)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600
    )
    assert done.returncode == 2, (done.returncode, done.stdout[-3000:])
    line = _last_line(done.stdout)
    assert "the disk filled up while writing shard" in line and "No space left on device" in line, done.stdout
    assert "Traceback" not in done.stdout
    (directory,) = [d for d in (small_disk / "full-during" / "teacher_cache").iterdir() if d.is_dir()]
    assert not list(directory.glob(".*.tmp")) and not (directory / META_FILE).exists()
    for digest in directory.glob("shard-*.sha256.json"):  # the finished shards are whole
        assert (directory / digest.name.replace("sha256.json", "logits.npy")).is_file()
