"""A run whose curated arms train on different curations (curation-<arm>/): the report shows each one's
curation, figures and group diagnostics, and the experiment row records each one's groups."""

from __future__ import annotations

import json
import re

import pytest
from report_fixture import FAMILIES, add_stratified_arm, build_fake_run

from srd_core.experiment.collect import collect_row
from srd_core.report.build import CURATION_PLOTS, PLOTS, build_report, write_report
from srd_core.report.data import load_run
from srd_core.report.groups import run_groups
from srd_core.report.warnings import run_warnings


@pytest.fixture()
def run_dir(tmp_path):
    return add_stratified_arm(build_fake_run(tmp_path / "run"))


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_curation_gets_its_figures_tables_and_group_diagnostics(run_dir):
    report = build_report(run_dir)
    names = [spec.name for spec in report.specs]
    assert names == [
        n
        for spec in PLOTS
        for n in ([spec.name, f"{spec.name}-srd_stratified"] if spec.name in CURATION_PLOTS else [spec.name])
    ]
    assert all(report.figures[n] is not None for n in names)
    headings = {spec.name: spec.heading for spec in report.specs}
    assert headings["groups"].endswith(": srd") and headings["groups-srd_stratified"].endswith(": srd_stratified")

    own = _rows(run_dir / "curation-srd_stratified" / "curation.jsonl")
    page = write_report(run_dir).read_text()
    assert "<h3>Curation: srd</h3>" in page and "<h3>Curation: srd_stratified</h3>" in page
    assert f'id="cur-kept-srd_stratified">{sum(r["kept"] for r in own)}<' in page
    assert f'id="cur-kept">{sum(r["kept"] for r in _rows(run_dir / "curation.jsonl"))}<' in page
    assert "Curation per group: srd (task family, from the sample metadata)" in page
    assert "Curation per group: srd_stratified (curriculum.groups: field)" in page
    assert 'id="groups-srd_stratified"' in page
    assert (run_dir / "plots" / "groups-srd_stratified.png").is_file()


def test_an_arm_s_group_diagnostics_use_its_curation_and_its_pacer(run_dir):
    run = load_run(run_dir)
    [view] = run.views
    assert (view.owner, view.arms, run.base_arms) == ("srd_stratified", ("srd_stratified",), ("srd",))
    diag = run_groups(view.run(run)).diagnostics
    own = _rows(run_dir / "curation-srd_stratified" / "curation.jsonl")
    for g in diag.groups:
        members = [r for r in own if r["group"] == g.group]
        kept = [r for r in members if r["kept"]]
        assert g.kept_share == len(kept) / len(members) == pytest.approx(0.75, abs=0.05)
        # 3 epochs on each cumulative stage (the arm's pacer), against the baseline's 5 epochs over all samples
        srd_passes = sum(3 * sum(1 for r in kept if r["bin"] <= stage) for stage in range(3))
        assert g.srd_passes == srd_passes and g.baseline_passes == 5 * len(members)
    assert {g.group for g in diag.groups} == set(FAMILIES)
    base = run_groups(run).diagnostics  # srd's: the global curation, 2 epochs per stage
    assert base.total.srd_passes == sum(
        2 * sum(1 for r in _rows(run_dir / "curation.jsonl") if r["kept"] and r["bin"] <= s) for s in range(3)
    )


def test_a_starved_group_of_an_arm_s_curation_warns_naming_the_arm(run_dir):
    assert not [w for w in run_warnings(load_run(run_dir)) if "group" in w]  # 75 % of each family: balanced
    path = run_dir / "curation-srd_stratified" / "curation.jsonl"
    rows = _rows(path)
    starved = next(iter(FAMILIES))
    rows = [
        {**r, "kept": False, "bin": None} if r["group"] == starved and r["kept"] and int(r["id"][1:]) // 4 % 4 else r
        for r in rows
    ]  # the family's samples are every 4th id: 3 in 4 of its kept ones dropped
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    warnings = [w for w in run_warnings(load_run(run_dir)) if "group" in w]
    assert warnings and all(
        w.startswith(f"srd_stratified: group {starved} (curriculum.groups: field)") for w in warnings
    )


def test_the_experiment_row_records_each_arm_s_groups(run_dir):
    row = collect_row(run_dir, "v", 0)
    assert set(row["arm_groups"]) == {"srd_stratified"}
    groups = {g["group"]: g for g in row["arm_groups"]["srd_stratified"]["groups"]}
    assert set(groups) == set(FAMILIES) and row["arm_groups"]["srd_stratified"]["recorded"]
    assert re.match(r"curriculum\.groups: field", row["arm_groups"]["srd_stratified"]["source"])
    assert row["groups"]["source"].startswith("task family")  # curation.jsonl: srd's, shown by family
