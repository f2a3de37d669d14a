"""The tie and starvation warnings fire on crafted data and stay silent on balanced data; the per-group
table and figure reach report.html, and the diagnostics experiment.jsonl."""

from __future__ import annotations

import json
import logging

import pytest
from report_fixture import build_fake_run

from srd_core.experiment.collect import collect_row
from srd_core.report.build import write_report
from srd_core.report.data import load_run
from srd_core.report.warnings import group_warnings, run_warnings, tie_warnings

GROUPED_CONFIG = """run: {name: demo}
curriculum:
  groups: {name: field, field: family}
  pacer: {name: baby_step, num_bins: 3, epochs_per_stage: 2.4}
baseline:
  pacer: {name: all, epochs: 6}
"""


def _rewrite(path, change) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line]
    path.write_text("".join(json.dumps(change(i, r)) + "\n" for i, r in enumerate(rows)))


def grouped_run(tmp_path, balanced: bool, config: str = GROUPED_CONFIG):
    """The fake run with each sample's group recorded: its task family (whose difficulty differs: the global
    ranking starves sort_words), or, balanced, a group dealt round-robin along the final rank."""
    run_dir = build_fake_run(tmp_path / ("balanced" if balanced else "starved"))
    (run_dir / "config.yaml").write_text(config)
    rows = [json.loads(line) for line in (run_dir / "samples_meta.jsonl").read_text().splitlines()]
    meta = {r["id"]: r for r in rows}
    _rewrite(
        run_dir / "curation.jsonl",
        lambda i, r: {**r, "group": f"g{r['rank'] % 4}" if balanced else meta[r["id"]]["family"]},
    )
    return run_dir


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def console():
    handler = Collect()
    logger = logging.getLogger("srd_core.report.warnings")
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_starvation_warning_fires_once_on_a_starved_group(tmp_path, console):
    run_dir = grouped_run(tmp_path, balanced=False)
    warnings = group_warnings(load_run(run_dir))
    # sort_words, the hardest family, keeps 37 % and gets 16 % of the baseline's passes; kv_lookup 44 % of them
    assert [w.split(" ")[1] for w in warnings] == ["kv_lookup", "sort_words"], warnings
    line = warnings[1]
    assert line.startswith("group sort_words (curriculum.groups: field): keeps ")
    assert "of the baseline's passes (all samples: 60%)" in line
    assert line.endswith("; consider `curriculum.stratify: true`")
    page = write_report(run_dir).read_text()
    assert page.count("group sort_words (curriculum.groups: field)") == 1
    assert [m for m in console if "sort_words" in m] == [f"warning: {line}"]
    assert 'id="groups"' in page and 'id="plot-groups"' in page and (run_dir / "plots" / "groups.png").is_file()


def test_starvation_warning_is_silent_on_balanced_groups(tmp_path):
    run = load_run(grouped_run(tmp_path, balanced=True))
    assert group_warnings(run) == [] and run_warnings(run) == []


def test_thresholds_come_from_the_report_section(tmp_path):
    config = GROUPED_CONFIG + "report: {warn_group_kept: 0, warn_group_passes: 0}\n"
    assert group_warnings(load_run(grouped_run(tmp_path, balanced=False, config=config))) == []
    strict = GROUPED_CONFIG + "report: {warn_group_kept: 1, warn_group_passes: 1}\n"
    assert len(group_warnings(load_run(grouped_run(tmp_path / "strict", balanced=True, config=strict)))) >= 1


def test_no_advice_to_stratify_a_stratified_curation(tmp_path):
    config = GROUPED_CONFIG.replace("curriculum:\n", "curriculum:\n  stratify: true\n")
    warnings = group_warnings(load_run(grouped_run(tmp_path, balanced=False, config=config)))
    assert warnings and not any("stratify" in w for w in warnings)


def test_task_families_are_shown_but_do_not_warn(tmp_path):
    """Without recorded groups the report shows the task families (a view), with no starvation warning."""
    run_dir = build_fake_run(tmp_path / "families")
    (run_dir / "config.yaml").write_text(GROUPED_CONFIG.replace("  groups: {name: field, field: family}\n", ""))
    assert group_warnings(load_run(run_dir)) == []
    page = write_report(run_dir).read_text()
    assert "Curation per group (task family, from the sample metadata)" in page


def test_tie_warning_fires_when_one_value_ties_more_than_half(tmp_path):
    run_dir = build_fake_run(tmp_path / "ties")
    n = 120
    _rewrite(
        run_dir / "curation.jsonl",
        lambda i, r: {**r, "values": {**r["values"], "rouge_l": 0.123 if i < 61 else r["values"]["rouge_l"]}},
    )
    (line,) = tie_warnings(load_run(run_dir))
    assert line.startswith(
        f"difficulty metric 'rouge_l': 61 of {n} (50.8%) training samples tie at the value 0.123, "
        "so its ranks are mostly data order"
    )
    assert line in run_warnings(load_run(run_dir))


def test_tie_warning_is_silent_at_half_and_on_distinct_values(tmp_path):
    run_dir = build_fake_run(tmp_path / "half")
    assert tie_warnings(load_run(run_dir)) == []
    _rewrite(
        run_dir / "curation.jsonl",
        lambda i, r: {**r, "values": {**r["values"], "rouge_l": 0.123 if i < 60 else r["values"]["rouge_l"]}},
    )
    assert tie_warnings(load_run(run_dir)) == []


def test_experiment_row_holds_the_group_diagnostics(tmp_path):
    row = collect_row(grouped_run(tmp_path, balanced=False), "v", 0)
    groups = row["groups"]
    assert groups["source"] == "curriculum.groups: field" and groups["recorded"] is True
    assert {g["group"] for g in groups["groups"]} == {"reverse_words", "add_2digit", "kv_lookup", "sort_words"}
    assert groups["total"]["samples"] == 120 and groups["total"]["relative_passes"] == pytest.approx(0.6)
    json.dumps(row)  # experiment.jsonl can hold it
