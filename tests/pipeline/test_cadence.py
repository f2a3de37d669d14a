"""Cadence and logging fields never make a trained model stale; the README lists exactly them."""

from __future__ import annotations

import json
import re

import pytest
from paths import REPO
from tiny_run import dev_split_data, make_config, make_workspace

from srd_core.pipeline.planner import Planner, close_phase, open_phase, record_path
from srd_core.training.cadence import CADENCE_FIELDS

NEW_VALUES = {
    "log_every": 7,
    "log_with": ["tensorboard"],
    "checkpoint_every": 3,
    "checkpoint_minutes": 5.0,
    "keep_checkpoints": 4,
    "eval_every": 2,
}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("cadence"))


def _trained(planner: Planner, label: str = "srd") -> None:
    """Record train_<label> as complete, with stand-in artifacts."""
    status = open_phase(planner, f"train_{label}")
    assert status.state in ("todo", "stale"), status.describe()
    (planner.run_dir / label / "final").mkdir(parents=True, exist_ok=True)
    (planner.run_dir / label / "final" / "config.json").write_text("{}")
    (planner.run_dir / label / "summary.json").write_text("{}")
    close_phase(planner, status)


def test_every_cadence_field_has_a_new_value_here():
    assert set(NEW_VALUES) == set(CADENCE_FIELDS)


@pytest.mark.parametrize("name", CADENCE_FIELDS)
def test_a_cadence_field_never_makes_a_trained_model_stale(ws, name):
    config = make_config(ws, f"cad-{name}")
    _trained(Planner(config, config.run.dir))
    changed = make_config(ws, f"cad-{name}", train={name: NEW_VALUES[name]})
    for label in ("srd", "baseline"):
        assert Planner(changed, changed.run.dir).status(f"train_{label}").state in ("complete", "todo")
    assert Planner(changed, changed.run.dir).status("train_srd").state == "complete"
    # a weight-changing field beside it still counts
    lr = make_config(ws, f"cad-{name}", train={name: NEW_VALUES[name], "lr": 0.05})
    assert Planner(lr, lr.run.dir).status("train_srd").describe() == "stale (train.lr 0.01 → 0.05)"


def test_a_record_that_holds_cadence_fields_is_not_stale_for_them(ws):
    """Records written by an srd that took checkpoint_minutes and log_with as inputs stay valid."""
    config = make_config(ws, "old-record")
    _trained(Planner(config, config.run.dir))
    path = record_path(config.run.dir, "train_srd")
    record = json.loads(path.read_text())
    record["inputs"].update(
        {
            "train.checkpoint_minutes": 10.0,
            "train.log_with": [],
            "train.log_every": 1,
            "train.select_best.every": 0,
            "train.select_best.max_samples": None,
        }
    )
    path.write_text(json.dumps(record))
    changed = make_config(ws, "old-record", train={"checkpoint_minutes": 5.0, "log_with": ["tensorboard"]})
    assert Planner(changed, changed.run.dir).status("train_srd").state == "complete"


def test_select_best_settings_count_only_while_it_is_on(ws):
    config = make_config(ws, "best")
    _trained(Planner(config, config.run.dir))
    off = make_config(ws, "best", train={"select_best": {"enabled": False, "every": 5, "max_samples": 3}})
    assert Planner(off, off.run.dir).status("train_srd").state == "complete"
    data = dev_split_data(ws)
    on = make_config(ws, "best2", data=data, train={"select_best": {"enabled": True, "every": 5}})
    _trained(Planner(on, on.run.dir))
    every = make_config(ws, "best2", data=data, train={"select_best": {"enabled": True, "every": 2}})
    assert Planner(every, every.run.dir).status("train_srd").describe() == "stale (train.select_best.every 5 → 2)"
    # the dev evaluations generate with eval.max_new_tokens: an input while select_best is on
    longer = make_config(
        ws, "best2", data=data, train={"select_best": {"enabled": True, "every": 5}}, eval={"max_new_tokens": 9}
    )
    assert Planner(longer, longer.run.dir).status("train_srd").describe() == "stale (eval.max_new_tokens null → 9)"


def test_the_readme_lists_exactly_the_cadence_fields():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    sentence = re.search(r"Logging, evaluation and checkpoint cadence \((.*?)\) never", readme, re.S)
    assert sentence, "README: the sentence listing the cadence fields is missing"
    listed = {name.removeprefix("train.") for name in re.findall(r"`([a-z_.]+)`", sentence.group(1))}
    assert listed == set(CADENCE_FIELDS)
