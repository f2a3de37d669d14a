"""The curate phase reads curriculum.groups and curriculum.stratify: changing either makes curation stale."""

from __future__ import annotations

import pytest
from tiny_run import make_config, make_workspace, write_config

from srd_core.pipeline.phases import CURATE
from srd_core.pipeline.planner import Planner, close_phase, open_phase


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("groups-phase"))


def _complete(planner: Planner, name: str, files: dict[str, str]) -> None:
    status = open_phase(planner, name)
    assert status.state in ("todo", "stale"), status.describe()
    for file, text in files.items():
        (planner.run_dir / file).write_text(text)
    close_phase(planner, status)


def test_changing_groups_or_stratify_makes_curation_stale(ws):
    config = make_config(ws, "groups")
    planner = Planner(config, config.run.dir)
    _complete(planner, "reflect", {"reflection.jsonl": '{"id": "s0"}\n', "reflection.meta.json": "{}"})
    _complete(Planner(config, config.run.dir), "curate", {"curation.jsonl": "{}\n"})
    assert Planner(config, config.run.dir).status("curate").state == "complete"

    stratified = make_config(ws, "groups", curriculum={"stratify": True})
    assert (
        Planner(stratified, stratified.run.dir).status("curate").describe()
        == "stale (curriculum.stratify false → true)"
    )
    grouped = make_config(ws, "groups", curriculum={"groups": {"name": "kmeans", "k": 2}})
    assert (
        Planner(grouped, grouped.run.dir).status("curate").describe() == "stale (curriculum.groups.name none → kmeans)"
    )
    _complete(Planner(grouped, grouped.run.dir), "curate", {"curation.jsonl": "{}\n"})
    other_k = make_config(ws, "groups", curriculum={"groups": {"name": "kmeans", "k": 3}})
    assert Planner(other_k, other_k.run.dir).status("curate").describe() == "stale (curriculum.groups.k 2 → 3)"


def test_a_grouping_makes_the_training_data_an_input_of_curation(ws):
    plain = make_config(ws, "inputs")
    grouped = make_config(ws, "inputs", curriculum={"groups": {"name": "field", "field": "family", "missing": "x"}})
    curate = CURATE
    assert "data.train" not in curate.fields(plain) and "data.train" in curate.fields(grouped)
    assert not any(k.startswith("data file") for k in curate.files(plain, plain.run.dir))
    assert any(k.startswith("data file data.train") for k in curate.files(grouped, grouped.run.dir))


def test_a_sample_without_the_grouping_field_stops_the_run_before_any_work(ws):
    from click.testing import CliRunner

    from srd_core.cli import cli

    train = {
        "name": "jsonl",
        "train": str(ws / "train.jsonl"),
        "id_field": "id",
        "template": "{instruction}",
        "dev_size": 4,
    }
    path = write_config(
        ws, "nofield", data={"train": train}, curriculum={"groups": {"name": "field", "field": "family"}}
    )
    result = CliRunner().invoke(cli, ["run", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("srd: error: curriculum.groups.field: training sample 's4' has no field 'family'")
    assert not (ws / "nofield").exists()
