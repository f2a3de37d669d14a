"""The dependency rule on a run dir without training: statuses, reasons, records, artifacts set aside."""

from __future__ import annotations

import json

import pytest
from tiny_run import make_config, make_workspace

from srd_core.errors import SRDError
from srd_core.pipeline import phases
from srd_core.pipeline.planner import Planner, check_upstream, close_phase, open_phase, read_record, record_path


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("phases"))


def _reflect(planner: Planner) -> None:
    """Run the reflect phase with a stand-in artifact."""
    status = open_phase(planner, "reflect")
    assert status.state in ("todo", "stale")
    (planner.run_dir / "reflection.jsonl").write_text('{"id": "s0"}\n')
    (planner.run_dir / "reflection.meta.json").write_text("{}")
    close_phase(planner, status)


def test_a_phase_is_complete_only_while_its_inputs_hold(ws):
    config = make_config(ws, "rule")
    planner = Planner(config, config.run.dir)
    assert planner.status("prepare").state == "off"  # both models given by path
    assert planner.status("reflect").state == "todo"
    assert planner.status("curate").describe() == "pending (after reflect, which is to do)"
    _reflect(planner)
    assert planner.status("reflect").state == "complete"
    assert read_record(config.run.dir, "reflect")["state"] == "complete"

    edited = make_config(ws, "rule", reflection={"max_new_tokens": 8})
    again = Planner(edited, edited.run.dir)
    assert again.status("reflect").describe() == "stale (reflection.max_new_tokens null → 8)"
    _reflect(again)  # the stale artifacts are moved aside, not deleted
    stale = config.run.dir / ".stale" / "reflect"
    assert (stale / "reflection.jsonl").is_file() and (stale / "record.json").is_file()
    assert Planner(edited, edited.run.dir).status("reflect").state == "complete"
    # the bytes of the data file, at the same path
    train_file = ws / "train.jsonl"
    original = train_file.read_text()
    try:
        train_file.write_text(original.replace('"s0"', '"s0x"', 1))
        assert (
            Planner(edited, edited.run.dir).status("reflect").describe() == "stale (data file data.train.train changed)"
        )
    finally:
        train_file.write_text(original)
    assert Planner(edited, edited.run.dir).status("reflect").state == "complete"


def test_a_field_added_later_at_its_default_keeps_old_artifacts(ws):
    config = make_config(ws, "added")
    planner = Planner(config, config.run.dir)
    _reflect(planner)
    path = record_path(config.run.dir, "reflect")
    record = json.loads(path.read_text())
    del record["inputs"]["reflection.bucket_by_length"]  # as if written before the field existed
    path.write_text(json.dumps(record))
    assert Planner(config, config.run.dir).status("reflect").state == "complete"
    changed = make_config(ws, "added", reflection={"bucket_by_length": False})
    assert (
        Planner(changed, changed.run.dir).status("reflect").describe()
        == "stale (reflection.bucket_by_length (not recorded) → false)"
    )


def test_artifacts_without_a_record_are_stale_and_commands_refuse_a_stale_upstream(ws):
    config = make_config(ws, "norecord", curriculum={"pacer": {"name": "baby_step"}})
    config.run.dir.mkdir(parents=True)
    (config.run.dir / "curation.jsonl").write_text("{}\n")
    planner = Planner(config, config.run.dir)
    assert planner.status("curate").describe() == "pending (after reflect, which is to do)"
    _reflect(planner)
    assert (
        Planner(config, config.run.dir).status("curate").describe()
        == "stale (no record of what its artifacts were made from)"
    )
    check_upstream(Planner(config, config.run.dir), "train_srd")  # an unrecorded upstream is the phase's business
    edited = make_config(ws, "norecord", curriculum={"pacer": {"name": "baby_step"}}, data={"max_length": 48})
    with pytest.raises(
        SRDError,
        match=r"curate reads reflect, which is stale \(data.max_length 64 → 48\); "
        r"run `srd reflect CONFIG`",
    ):
        check_upstream(Planner(edited, edited.run.dir), "curate")


def test_an_unset_max_new_tokens_records_the_value_the_data_gives(ws, monkeypatch):
    """Left unset, the limit comes from the data: the value is an input of reflect and evaluate, so a new
    derived value (other data, another tokenizer) makes their artifacts stale although no field changed."""
    from srd_core.models import lengths

    config = make_config(ws, "derived")
    assert config.reflection.max_new_tokens is None and config.eval.max_new_tokens is None
    derived = lengths.derived_max_new_tokens(config, config.run.dir)
    assert derived is not None and derived[0] == lengths.limit_for(derived[1]) <= lengths.MAX_NEW_TOKENS_CAP
    planner = Planner(config, config.run.dir)
    _reflect(planner)
    assert read_record(config.run.dir, "reflect")["inputs"]["reflection.max_new_tokens from the data"] == derived[0]
    assert lengths.with_generation_limits(config, config.run.dir).reflection.max_new_tokens == derived[0]
    explicit = make_config(ws, "derived", reflection={"max_new_tokens": 24})  # a value set is kept as is
    assert lengths.with_generation_limits(explicit, explicit.run.dir).reflection.max_new_tokens == 24

    # the reflect phase's declaration reads the derived limit (phases imports the function by name)
    monkeypatch.setattr(phases, "derived_max_new_tokens", lambda *a, **k: (derived[0] + 5, derived[1] + 4))
    assert Planner(config, config.run.dir).status("reflect").describe() == (
        f"stale (reflection.max_new_tokens from the data {derived[0]} → {derived[0] + 5})"
    )
