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
    old = {
        **flatten({"lr": 0.001, "temperature": {"name": "stagewise", "values": [1, 2]}}, "train"),
        "file teacher model": "aaa",
    }
    assert first_difference(old, dict(old)) is None
    assert first_difference(old, {**old, "train.lr": 0.05}) == "train.lr 0.001 → 0.05"
    assert (
        first_difference(old, {**old, "train.temperature.values": [1, 3]}) == "train.temperature.values [1, 2] → [1, 3]"
    )
    assert first_difference(old, {**old, "file teacher model": "bbb"}) == "teacher model changed"
    assert first_difference(old, {**old, "file teacher model": None}) == "teacher model is missing"
    assert first_difference(old, {**old, "train.max_steps": 5}) == "train.max_steps (not recorded) → 5"
    assert first_difference(old, {k: v for k, v in old.items() if k != "train.lr"}) == "train.lr is no longer an input"


# ------------------------------------------------------------------------------------------ artifact-key identities
# Values pinned from main at cd8aec5, where these lived in reflection/reflect.py, models/prepare.py and
# curation/curate.py: they are stored in users' run dirs (reflection.meta.json, prepare.json, the teacher cache's
# directory name, curation.meta.json), so a different value makes those artifacts stale.

STAMP_NS = 1_700_000_000_000_000_000


def _model_dir(tmp_path):
    import os

    directory = tmp_path / "model"
    directory.mkdir()
    (directory / "config.json").write_text('{"a": 1}')
    (directory / "w.bin").write_bytes(b"xyz")
    for file in directory.iterdir():
        os.utime(file, ns=(STAMP_NS, STAMP_NS))
    return directory


def _samples():
    from srd_core.types import Sample

    return [
        Sample(id="a", prompt="p1", references=["r1"], meta={"family": "x"}),
        Sample(id="b", prompt="p2", references=["r2", "r3"]),
    ]


def test_model_identity_keeps_the_value_stored_in_run_dirs(tmp_path):
    from types import SimpleNamespace

    from srd_core.fingerprints import model_identity
    from srd_core.io import fingerprint

    directory = _model_dir(tmp_path)
    hub = model_identity("org/model", SimpleNamespace(revision="main", dtype="float32"))
    assert hub == {"path": "org/model", "revision": "main", "dtype": "float32"}  # a hub id: no files
    identity = model_identity(str(directory), SimpleNamespace(revision="main", dtype="float32"))
    identity["path"] = "/tmp/sk-golden-model"  # where the pinned value was computed
    assert fingerprint(identity) == "20e0002222c45892"


def test_data_fingerprint_keeps_the_values_of_reflection_and_curation():
    from srd_core.fingerprints import data_fingerprint

    samples = _samples()
    assert data_fingerprint(samples) == "7a2d23065c667d71"  # reflection's and the teacher cache's
    assert data_fingerprint(samples, ("references",)) == "ff4d6c4f61077b4d"  # curation's samples
    assert data_fingerprint(samples, ("prompt", "meta")) == "495551867255ddfa"  # curation's sample fields
    assert data_fingerprint(samples[:1]) != data_fingerprint(samples)


def test_file_and_directory_digests_keep_their_values(tmp_path):
    from srd_core.fingerprints import directory_digest, file_digest

    directory = _model_dir(tmp_path)
    assert directory_digest(directory) == "8193b0ec5d5b01b7afda8f38e7edb333c97c9bb0a3c4e0b06a8dcca5f3d1d8ec"
    assert directory_digest(tmp_path / "absent") is None and directory_digest(None) is None
    assert file_digest(directory / "w.bin") == "3608bca1e44ea6c4d268eb6db02260269892c0b42b86bbf1e77a6fa16c3c9282"


def test_model_identity_and_data_fingerprints_live_in_fingerprints_only():
    """No other srd_core module computes a model's identity or hashes samples or files itself."""
    import re

    from paths import REPO

    pattern = re.compile(
        r"def (model_identity|data_fingerprint|_?directory_digest|_?file_digest)\b|st_mtime_ns\]|"
        r"fingerprint\(\[\[s\.id"
    )
    allowed = {
        "srd_core/fingerprints.py",
        "srd_core/code_digest.py",
    }  # digests of source files (code provenance), not of data or models
    found = [
        f"{path.relative_to(REPO)}: {m.group(0)}"
        for path in sorted((REPO / "srd_core").rglob("*.py"))
        if path.relative_to(REPO).as_posix() not in allowed
        for m in pattern.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found, found
