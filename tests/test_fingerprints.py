"""Content hashes with the size + mtime fast path, and the one-line difference between two input sets."""

from __future__ import annotations

import os

from srd_core.fingerprints import HashCache, first_difference, flatten


def test_content_hash_follows_the_bytes_and_reuses_unchanged_files(tmp_path, monkeypatch):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "weights.bin").write_bytes(b"abc")
    cache = HashCache(tmp_path / "hashes.json")
    first = cache.content_hash(model)
    cache.save()

    reads = []
    import srd_core.fingerprints as fp

    real = fp._sha256_file
    monkeypatch.setattr(fp, "_sha256_file", lambda p: reads.append(p.name) or real(p))
    again = HashCache(tmp_path / "hashes.json")  # a later command: the saved cache is used
    assert again.content_hash(model) == first and reads == []

    stat = os.stat(model / "weights.bin")
    (model / "weights.bin").write_bytes(b"abd")  # same size, same mtime: the ctime tells
    os.utime(model / "weights.bin", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    changed = again.content_hash(model)
    assert changed != first and reads == ["weights.bin"]
    assert again.content_hash(tmp_path / "missing") is None


def test_a_directory_hash_covers_names_as_well_as_bytes(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    (tmp_path / "a" / "x.bin").write_bytes(b"1")
    (tmp_path / "b" / "y.bin").write_bytes(b"1")
    cache = HashCache()
    assert cache.content_hash(tmp_path / "a") != cache.content_hash(tmp_path / "b")


def test_first_difference_names_the_field_with_old_and_new_values():
    old = {**flatten({"lr": 0.001, "temperature": {"name": "stagewise", "values": [1, 2]}}, "train"),
           "file teacher model": "aaa"}
    assert first_difference(old, dict(old)) is None
    assert first_difference(old, {**old, "train.lr": 0.05}) == "train.lr 0.001 → 0.05"
    assert first_difference(old, {**old, "train.temperature.values": [1, 3]}) == \
        "train.temperature.values [1, 2] → [1, 3]"
    assert first_difference(old, {**old, "file teacher model": "bbb"}) == "teacher model changed"
    assert first_difference(old, {**old, "file teacher model": None}) == "teacher model is missing"
    assert first_difference(old, {**old, "train.max_steps": 5}) == "train.max_steps (not recorded) → 5"
    assert first_difference(old, {k: v for k, v in old.items() if k != "train.lr"}) == \
        "train.lr is no longer an input"
