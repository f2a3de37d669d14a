"""Curation: paper equivalence with ties, veto hook, artifacts, caching, bad input and the CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from rouge_score import rouge_scorer
from shared_data import DATA

from srd_core.cli import cli
from srd_core.components import DifficultyMetric, Task
from srd_core.config import CurriculumConfig, config_from_dict, spec
from srd_core.context import ModelAccess
from srd_core.curation import curate as curation
from srd_core.errors import ConfigError, DataError
from srd_core.hookspecs import hookimpl
from srd_core.plugins import get_component, register, unregister
from srd_core.types import ReflectionRecord, Sample

WORDS = ["alpha", "beta", "gamma", "delta", "eps", "zeta"]


# ---- a reflection with many ties ---------------------------------------------------------------


def tied_data(n: int, seed: int) -> tuple[list[Sample], list[ReflectionRecord]]:
    """Samples whose ROUGE-L values come from a small set and whose CE is rounded: many ties."""
    rng = random.Random(seed)
    samples, reflections = [], []
    for i in range(n):
        reference = " ".join(rng.sample(WORDS, 4))
        words = reference.split()
        output = rng.choice(["", reference, " ".join(words[:2]), " ".join(words[:3]), "unrelated text"])
        references = [reference, "alpha beta"] if i % 7 == 0 else [reference]
        samples.append(Sample(id=f"id{i:04d}", prompt=f"prompt {i}", references=references))
        reflections.append(
            ReflectionRecord(
                id=f"id{i:04d}",
                prompt_hash=f"h{i}",
                output=output,
                ce=round(rng.uniform(0.5, 1.5), 1),
                prompt_tokens=3,
                response_tokens=4,
                output_tokens=len(output.split()),
            )
        )
    return samples, reflections


def official_srd(rouge: list[float], ce: list[float]) -> tuple[list[int], list[float], list[list[int]]]:
    """The paper's algorithm with ``tie_break: data_order``, written independently: two stable sorts from
    data order, RRF k=60, ⌊N/4⌋·s per stage (the official chain of sorts is in test_ranking.py).

    Returns the fused order (indices, easy first), the fused scores and the three cumulative stages.
    """
    n = len(rouge)
    rows = [{"i": i, "rouge": rouge[i], "ce": ce[i]} for i in range(n)]
    for rank, row in enumerate(sorted(rows, key=lambda r: r["rouge"], reverse=True), start=1):
        row["rank_rouge"] = rank
    for rank, row in enumerate(sorted(rows, key=lambda r: r["ce"]), start=1):
        row["rank_ce"] = rank
    for row in rows:
        row["score"] = 1 / (60 + row["rank_rouge"]) + 1 / (60 + row["rank_ce"])
    fused = sorted(rows, key=lambda r: r["score"], reverse=True)
    quarter = n // 4
    stages = [[row["i"] for row in fused[: quarter * s]] for s in (1, 2, 3)]
    return [row["i"] for row in fused], [row["score"] for row in rows], stages


@pytest.mark.parametrize("mirrored", [False, True])
@pytest.mark.parametrize("n", [4, 5, 6, 7, 10, 13, 64, 101, 402])
def test_paper_equivalence_with_ties(n, mirrored):
    """``mirrored``: CE ranks are the reverse of the ROUGE-L ranks, so the samples with rank pairs (a, b)
    and (b, a) tie on the fused score: every sample ties with one other and the data order decides."""
    samples, reflections = tied_data(n, seed=n)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouge = [
        max(scorer.score(ref, r.output)["rougeL"].fmeasure for ref in s.references)
        for s, r in zip(samples, reflections, strict=True)
    ]
    if mirrored:
        rouge_order = sorted(range(n), key=lambda i: rouge[i], reverse=True)
        for rank, i in enumerate(rouge_order, start=1):
            reflections[i].ce = float(n + 1 - rank)
    ce = [r.ce for r in reflections]
    assert len(set(rouge)) < n / 2 or n < 8  # the data really is full of ties
    order, scores, stages = official_srd(rouge, ce)
    if mirrored:
        assert len(set(scores)) == (n + 1) // 2  # fused scores tie in pairs

    records = curation.curate(samples, reflections, CurriculumConfig())
    ids = [s.id for s in samples]
    assert [r.id for r in records] == ids
    assert [r.fused for r in records] == scores  # bit-identical
    assert [r.id for r in sorted(records, key=lambda r: r.rank)] == [ids[i] for i in order]
    assert {r.id for r in records if r.kept} == {ids[i] for i in order[: (3 * n) // 4]}
    stage_plans = curation.plan_stages(get_component("pacer", "baby_step"), records, ids)
    assert [plan.ids for plan in stage_plans] == [[ids[i] for i in stage] for stage in stages]
    for b in range(3):
        in_bin = {r.id for r in records if r.bin == b}
        assert in_bin == {ids[i] for i in stages[b]} - ({ids[i] for i in stages[b - 1]} if b else set())


def test_records_hold_values_and_ranks():
    samples, reflections = tied_data(20, seed=3)
    records = curation.curate(samples, reflections, CurriculumConfig())
    for record, reflection in zip(records, reflections, strict=True):
        assert set(record.values) == set(record.ranks) == {"rouge_l", "cross_entropy"}
        assert record.values["cross_entropy"] == reflection.ce
    assert sorted(r.rank for r in records) == list(range(1, 21))
    assert sorted(r.ranks["rouge_l"] for r in records) == list(range(1, 21))
    assert all((r.bin is not None) <= r.kept for r in records)


# ---- ranks ---------------------------------------------------------------------------------------


def test_rank_by_breaks_ties_by_data_order():
    assert curation.rank_by([0.5, 1.0, 0.5, 1.0], higher_is_easier=True) == [3, 1, 4, 2]
    assert curation.rank_by([0.5, 1.0, 0.5, 1.0], higher_is_easier=False) == [1, 3, 2, 4]
    assert curation.rank_by([], higher_is_easier=True) == []


@given(st.lists(st.sampled_from([0.0, 0.1, 0.5, 1.0, 2.5]), max_size=60), st.booleans())
def test_rank_by_properties(values, higher_is_easier):
    ranks = curation.rank_by(values, higher_is_easier)
    assert sorted(ranks) == list(range(1, len(values) + 1))
    sign = -1 if higher_is_easier else 1
    for i in range(len(values)):
        for j in range(i + 1, len(values)):
            easier_i = sign * values[i] < sign * values[j]
            tie = values[i] == values[j]
            assert (ranks[i] < ranks[j]) == (easier_i or tie)


# ---- veto hook and configurable components ------------------------------------------------------


class VetoPlugin:
    """A notify-hook plugin that vetoes fixed ids and records what it saw."""

    def __init__(self, ids):
        self.ids = ids
        self.seen = None

    @hookimpl
    def reflection_scored(self, table, config):
        self.seen = (list(table.ids), {k: list(v) for k, v in table.values.items()})
        return self.ids


def test_hook_reflection_scored():
    samples, reflections = tied_data(40, seed=5)
    baseline = curation.curate(samples, reflections, CurriculumConfig())
    easiest = [r.id for r in sorted(baseline, key=lambda r: r.rank)[:3]]
    plugin = VetoPlugin([*easiest, "not-a-sample"])
    register(plugin, name="test-veto")
    try:
        result = curation.curate_with_info(samples, reflections, CurriculumConfig())
    finally:
        unregister("test-veto")
    assert plugin.seen[0] == [s.id for s in samples]
    assert plugin.seen[1]["cross_entropy"] == [r.ce for r in reflections]
    assert result.vetoed == sorted(easiest)
    by_id = {r.id: r for r in result.records}
    assert not any(by_id[i].kept or by_id[i].bin is not None for i in easiest)
    # ranks and scores are unchanged; the selection runs on the 37 others: ⌊0.75·37⌋ = 27 kept
    assert [r.rank for r in result.records] == [r.rank for r in baseline]
    assert sum(r.kept for r in result.records) == 27
    # once unregistered, nothing is vetoed
    assert curation.curate_with_info(samples, reflections, CurriculumConfig()).vetoed == []


def test_other_components_from_config():
    samples, reflections = tied_data(30, seed=8)
    curriculum = CurriculumConfig(
        metrics=[spec("cross_entropy")],
        fusion=spec("rank_mean"),
        selector=spec("fixed_ratio", ratio=0.5),
        pacer=spec("baby_step", num_bins=5),
    )
    records = curation.curate(samples, reflections, curriculum)
    kept = [r for r in records if r.kept]
    assert len(kept) == 15 and [sum(r.bin == b for r in kept) for b in range(5)] == [3] * 5
    assert max(r.values["cross_entropy"] for r in kept) <= min(r.values["cross_entropy"] for r in records if not r.kept)


class PromptLength(DifficultyMetric):
    """A test metric that needs the model: the tokenized prompt length (longer is harder)."""

    higher_is_easier = False
    needs_model = True

    def score(self, samples, reflections, model=None):
        return [float(len(model.tokenizer(s.prompt))) for s in samples]


class PromptLengthPlugin:
    @hookimpl
    def register_difficulty_metrics(self, register):
        register("test_prompt_length", PromptLength)


def test_metric_that_needs_the_model():
    samples, reflections = tied_data(12, seed=6)
    curriculum = CurriculumConfig(metrics=[spec("test_prompt_length"), spec("cross_entropy")])
    register(PromptLengthPlugin(), name="test-needs-model")
    try:
        with pytest.raises(ConfigError, match="'test_prompt_length' needs the student model"):
            curation.curate(samples, reflections, curriculum)
        access = ModelAccess(model=None, tokenizer=str.split)
        records = curation.curate(samples, reflections, curriculum, model_access=access)
    finally:
        unregister("test-needs-model")
    assert [r.values["test_prompt_length"] for r in records] == [2.0] * 12


def test_misaligned_reflections_are_a_clear_error():
    samples, reflections = tied_data(6, seed=1)
    with pytest.raises(DataError, match="5 reflection records for 6 training samples"):
        curation.curate(samples, reflections[:5], CurriculumConfig())
    swapped = [reflections[1], reflections[0], *reflections[2:]]
    with pytest.raises(DataError, match="line 1 has id 'id0001' but training sample 1 is 'id0000'"):
        curation.curate(samples, swapped, CurriculumConfig())


def test_non_finite_metric_value_is_rejected():
    samples, reflections = tied_data(8, seed=2)
    reflections[3].ce = float("nan")
    with pytest.raises(DataError, match="sample 'id0003' has value nan"):
        curation.curate(samples, reflections, CurriculumConfig())


def test_too_few_samples_for_the_bins():
    samples, reflections = tied_data(3, seed=2)
    with pytest.raises(DataError, match="2 kept samples cannot fill 3 bins"):
        curation.curate(samples, reflections, CurriculumConfig())
    with pytest.raises(DataError, match="kept none of the 1 samples"):
        curation.curate(samples[:1], reflections[:1], CurriculumConfig())


# ---- artifacts -----------------------------------------------------------------------------------


def make_config(tmp_path: Path, **curriculum) -> object:
    raw = {
        "run": {"name": "r", "output_dir": str(tmp_path)},
        "teacher": {"path": "unused-teacher"},
        "student": {"path": "unused-student"},
        "data": {"train": {"name": "curate_fixture"}},
    }
    if curriculum:
        raw["curriculum"] = curriculum
    return config_from_dict(raw)


class FixtureTask(Task):
    """Serves tied_data(24) as the training split."""

    def load(self, split: str) -> list[Sample]:
        return tied_data(24, seed=11)[0]


class FixtureTaskPlugin:
    @hookimpl
    def register_tasks(self, register):
        register("curate_fixture", FixtureTask)


@pytest.fixture
def fixture_task():
    register(FixtureTaskPlugin(), name="test-curate-task")
    yield
    unregister("test-curate-task")


def write_reflection(run_dir: Path, reflections: list[ReflectionRecord]) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "reflection.jsonl"
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in reflections), encoding="utf-8")
    return path


def test_run_curation_writes_and_reuses(tmp_path, fixture_task, monkeypatch):
    config = make_config(tmp_path)
    samples, reflections = tied_data(24, seed=11)
    run_dir = config.run.dir
    write_reflection(run_dir, reflections)

    records = curation.run_curation(config, run_dir, samples=samples)
    on_disk = curation.load_curation(run_dir)
    assert on_disk == records == curation.curate(samples, reflections, config.curriculum)
    summary = curation.curation_summary(run_dir)
    assert summary["total"] == 24 and summary["kept"] == 18 and summary["bin_sizes"] == [6, 6, 6]
    assert summary["vetoed"] == 0 and summary["selection"] == {"ratio": 0.75}

    def fail(*args, **kwargs):
        raise AssertionError("recomputed although nothing changed")

    monkeypatch.setattr(curation, "curate_with_info", fail)
    assert curation.run_curation(config, run_dir, samples=samples) == on_disk
    monkeypatch.undo()

    # another curriculum or another reflection file invalidates the cache
    changed = make_config(tmp_path, selector={"name": "fixed_ratio", "ratio": 0.5})
    assert sum(r.kept for r in curation.run_curation(changed, run_dir, samples=samples)) == 12
    reflections[0].ce = 9.0
    write_reflection(run_dir, reflections)
    again = curation.run_curation(changed, run_dir, samples=samples)
    assert again[0].values["cross_entropy"] == 9.0


def test_bad_reflection_files(tmp_path, fixture_task):
    config = make_config(tmp_path)
    samples, reflections = tied_data(4, seed=1)
    run_dir = config.run.dir
    with pytest.raises(DataError, match=r"reflection.jsonl: not found; run `srd reflect"):
        curation.run_curation(config, run_dir, samples=samples)
    path = write_reflection(run_dir, reflections)
    lines = path.read_text().splitlines()
    row = json.loads(lines[2])
    del row["ce"]
    path.write_text("\n".join([lines[0], lines[1], json.dumps(row), lines[3]]) + "\n")
    with pytest.raises(DataError, match=r"reflection.jsonl: line 3: field 'ce' is missing"):
        curation.run_curation(config, run_dir, samples=samples)
    row["ce"] = "high"
    path.write_text("\n".join([lines[0], json.dumps(row)]) + "\n")
    with pytest.raises(DataError, match=r"line 2: field 'ce' should be int or float, got str"):
        curation.run_curation(config, run_dir, samples=samples)
    path.write_text(lines[0] + "\n{not json\n")
    with pytest.raises(DataError, match=r"line 2: not valid JSON"):
        curation.run_curation(config, run_dir, samples=samples)


def test_plan_stages(tmp_path):
    samples, reflections = tied_data(12, seed=4)
    ids = [s.id for s in samples]
    records = curation.curate(samples, reflections, CurriculumConfig())
    assert [len(p.ids) for p in curation.plan_stages(get_component("pacer", "baby_step"), records, ids)] == [3, 6, 9]
    (everything,) = curation.plan_stages(get_component("pacer", "all"), None, ids)
    assert everything.ids == ids
    with pytest.raises(DataError, match="num_bins=4"):
        curation.plan_stages(get_component("pacer", "baby_step", num_bins=4), records, ids)
    with pytest.raises(DataError, match="run `srd curate` first"):
        curation.plan_stages(get_component("pacer", "baby_step"), [], ids)
    with pytest.raises(DataError, match="not in the training data"):
        curation.plan_stages(get_component("pacer", "baby_step"), records, ids[1:])


# ---- CLI -------------------------------------------------------------------------------------------


def test_cli_curate(tmp_path, fixture_task):
    _, reflections = tied_data(24, seed=11)
    config_file = tmp_path / "c.yaml"
    config_file.write_text(
        "teacher: {path: t}\nstudent: {path: s}\ndata: {train: {name: curate_fixture}}\n", encoding="utf-8"
    )
    overrides = ["--set", f"run.output_dir={tmp_path}", "--set", "run.name=cli"]
    runner = CliRunner()

    missing = runner.invoke(cli, ["curate", str(config_file), *overrides])
    assert missing.exit_code == 2 and "run `srd reflect CONFIG` first" in missing.output

    write_reflection(tmp_path / "cli", reflections)
    ok = runner.invoke(cli, ["curate", str(config_file), *overrides])
    assert ok.exit_code == 0, ok.output
    assert "kept 18 of 24" in ok.output and "bins 6/6/6" in ok.output
    assert len(curation.load_curation(tmp_path / "cli")) == 24


# ---- real text -------------------------------------------------------------------------------------

SHARED_DATA = DATA


@pytest.mark.parametrize("source", ["dolly/dev.jsonl", "sinst/valid.jsonl"])
def test_real_text_through_the_loader(tmp_path, source):
    """64 real samples (unicode, empty inputs, multi-reference outputs) loaded by the minillm task."""
    if not (SHARED_DATA / source).is_file():
        pytest.skip("shared test data not available")
    config = config_from_dict(
        {
            "run": {"name": "real", "output_dir": str(tmp_path)},
            "teacher": {"path": "t"},
            "student": {"path": "s"},
            "data": {"train": {"name": "minillm", "train": str(SHARED_DATA / source)}, "limit_train": 64},
        }
    )
    from srd_core.data.samples import load_samples

    samples = load_samples(config, "train")
    rng = random.Random(0)
    reflections = []
    for i, sample in enumerate(samples):
        words = sample.references[-1].split()
        output = ["", " ".join(words[: len(words) // 2]), sample.prompt[-200:], "ünïcødé — 東京"][i % 4]
        reflections.append(
            ReflectionRecord(
                id=sample.id,
                prompt_hash="h",
                output=output,
                ce=round(rng.uniform(1, 4), 2),
                prompt_tokens=1,
                response_tokens=1,
                output_tokens=1,
            )
        )
    write_reflection(config.run.dir, reflections)
    records = curation.run_curation(config, config.run.dir)
    assert len(records) == len(samples) == 64
    assert sum(r.kept for r in records) == 48 and curation.summarize(records)["bin_sizes"] == [16, 16, 16]
    half = [r for i, r in enumerate(records) if i % 4 == 1 and r.values["rouge_l"] > 0]
    assert half  # a prefix of the (last) reference scores above zero, also with several references
    assert all(r.values["rouge_l"] == 0.0 for i, r in enumerate(records) if i % 4 == 0)
