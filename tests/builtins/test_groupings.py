"""The built-in groupings: none, field (synthetic family, a file column, missing fields) and kmeans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from srd_core.builtins.groupings import FieldGrouping, KMeansGrouping, NoGrouping
from srd_core.errors import DataError, PluginError
from srd_core.plugins import get_component, get_registry
from srd_core.types import Sample

TOPICS = {
    "cooking": [
        "bake the bread in the oven",
        "boil the pasta in salted water",
        "fry the onions in butter",
        "roast the chicken with garlic",
        "whisk the eggs and the sugar",
    ],
    "football": [
        "the striker scored a late goal",
        "the keeper saved the penalty kick",
        "the referee showed a red card",
        "the midfielder passed to the winger",
        "the team won the league",
    ],
    "finance": [
        "the bank raised the interest rate",
        "stocks fell after the earnings report",
        "the bond yield rose this quarter",
        "investors sold shares of the fund",
        "inflation cut real wages",
    ],
}


def topic_samples() -> list[Sample]:
    """Prompts of three clearly separated topics, interleaved in data order."""
    samples = []
    for i in range(5):
        for topic, prompts in TOPICS.items():
            samples.append(Sample(f"{topic}-{i}", f"Explain: {prompts[i]}.", ["ok"], {"topic": topic}))
    return samples


def test_builtins_registered_through_the_entry_point():
    for name, cls in (("none", NoGrouping), ("field", FieldGrouping), ("kmeans", KMeansGrouping)):
        entry = get_registry().get("grouping", name)
        assert entry.cls is cls and entry.distribution == "srd"


def test_none_puts_every_sample_in_one_group():
    assert get_component("grouping", "none").assign(topic_samples()) == ["all"] * 15


def test_field_groups_the_synthetic_task_by_family():
    samples = get_component(
        "task", "synthetic", n_train=40, n_eval=4, seed=0, families=["copy", "reverse", "date"]
    ).load("train")
    groups = get_component("grouping", "field", field="family").assign(samples)
    assert groups == [s.meta["family"] for s in samples]
    assert set(groups) == {"copy", "reverse", "date"}


def test_field_reads_a_column_of_file_data(tmp_path):
    rows = [
        {"instruction": f"q{i}", "output": "a", "source_set": ["dolly", "alpaca"][i % 2], "level": i % 3}
        for i in range(6)
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    samples = get_component("task", "jsonl", train=str(path), meta_fields=["source_set", "level"]).load("train")
    assert get_component("grouping", "field", field="source_set").assign(samples) == [r["source_set"] for r in rows]
    assert get_component("grouping", "field", field="level").assign(samples) == ["0", "1", "2", "0", "1", "2"]


def test_a_sample_without_the_field_is_a_one_line_error_or_the_fallback_group():
    samples = [Sample("a", "p", ["r"], {"family": "x"}), Sample("b", "p", ["r"], {"other": 1})]
    with pytest.raises(DataError) as err:
        get_component("grouping", "field", field="family").assign(samples)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("curriculum.groups.field: training sample 'b' has no field 'family'")
    assert "meta_fields" in message
    fallback = get_component("grouping", "field", field="family", missing="unlabelled").assign(samples)
    assert fallback == ["x", "unlabelled"]


def test_field_params_are_validated():
    with pytest.raises(PluginError, match="field: required field is missing"):
        get_component("grouping", "field")
    with pytest.raises(PluginError, match="colour: unknown field"):
        get_component("grouping", "field", field="family", colour="red")


FAMILIES = ["copy", "reverse", "date", "name_format"]


def family_samples() -> list[Sample]:
    return get_component("task", "synthetic", n_train=40, n_eval=4, seed=0, families=FAMILIES).load("train")


def test_kmeans_finds_the_task_families_of_tiny_data():
    samples = family_samples()
    groups = get_component("grouping", "kmeans", k=4, seed=0).assign(samples)
    by_family: dict[str, set[str]] = {}
    for sample, group in zip(samples, groups, strict=True):
        by_family.setdefault(sample.meta["family"], set()).add(group)
    assert all(len(g) == 1 for g in by_family.values()), by_family  # each family is one cluster
    assert len(set(groups)) == 4  # ... and the clusters differ
    # clusters are numbered by their first sample in data order and named by their heaviest terms
    first = list(dict.fromkeys(groups))
    assert [g.split(" ")[0] for g in first] == ["c0", "c1", "c2", "c3"]
    assert "date" in by_family["date"].pop()


def test_kmeans_is_seeded_and_deterministic_in_process():
    samples = topic_samples()
    first = get_component("grouping", "kmeans", k=4, seed=3).assign(samples)
    assert get_component("grouping", "kmeans", k=4, seed=3).assign(samples) == first
    assert len(set(first)) == 4


KMEANS_SCRIPT = """
import json
from srd_core.plugins import get_component
samples = get_component("task", "synthetic", n_train=40, n_eval=4, seed=0, families={families!r}).load("train")
samples += [s for s in samples]  # duplicated prompts: ties in every distance
print(json.dumps(get_component("grouping", "kmeans", k=6, seed=5).assign(samples)))
"""


def test_kmeans_is_the_same_with_one_or_several_threads():
    """BLAS / OpenMP thread counts must not change the clusters (sums in another order could)."""
    results = []
    for threads in ("1", "2", "4"):
        env = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        out = subprocess.run(
            [sys.executable, "-c", KMEANS_SCRIPT.format(families=FAMILIES)],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            cwd=Path(__file__).parent,
        )
        assert out.returncode == 0, out.stderr
        results.append(json.loads(out.stdout))
    assert len(set(results[0])) == 6
    assert results[1] == results[0] and results[2] == results[0]


def test_kmeans_with_more_clusters_than_samples_is_an_error():
    with pytest.raises(DataError, match=r"curriculum.groups.k: 4 clusters for 3 training samples"):
        get_component("grouping", "kmeans", k=4).assign(topic_samples()[:3])
