"""Kept samples that no bin holds are said, with the setting that trains them (console, dry run, report)."""

from __future__ import annotations

import logging

from srd_core.config import config_from_dict
from srd_core.curation import curate as curation
from srd_core.curation.remainder import remainder_notice, unbinned
from srd_core.pipeline.dry_run import plan_run
from srd_core.types import ReflectionRecord, Sample


def test_notice_names_the_count_the_bins_and_the_fix():
    assert unbinned(19, [4, 4, 4, 4]) == 3
    assert remainder_notice(19, [4, 4, 4, 4], {"remainder": "drop"}) == (
        "3 kept samples beyond 4 × 4 are not trained; `curriculum.pacer.remainder: last` trains them"
    )
    assert remainder_notice(16, [5, 5, 5], {"remainder": "drop"}) == (
        "1 kept sample beyond 3 × 5 is not trained; `curriculum.pacer.remainder: last` trains it"
    )
    assert remainder_notice(15, [5, 5, 5], {"remainder": "drop"}) is None
    assert remainder_notice(19, [4, 4, 4, 7], {"remainder": "last"}) is None  # the last bin took them
    # a pacer without a remainder option: the count alone
    assert remainder_notice(7, [3, 2], {}) == "2 kept samples beyond 3 + 2 are not trained"


def _config(tmp_path):
    return config_from_dict(
        {
            "run": {"name": "rem", "output_dir": str(tmp_path)},
            "teacher": {"preset": "micro-teacher"},
            "student": {"preset": "micro-student"},
            "data": {"train": {"name": "synthetic", "n_train": 32, "n_eval": 8, "seed": 0}},
            "curriculum": {
                "selector": {"name": "fixed_ratio", "ratio": 0.6},
                "pacer": {"name": "baby_step", "num_bins": 4},
            },
        }
    )


def test_dry_run_states_the_dropped_remainder(tmp_path):
    plan = plan_run(_config(tmp_path), num_processes=1)
    curation_line = next(p.detail for p in plan.phases if p.name == "curation")
    assert "keeps 19 of 32" in curation_line and "bins 4/4/4/4" in curation_line
    assert curation_line.endswith(
        "3 kept samples beyond 4 × 4 are not trained; `curriculum.pacer.remainder: last` trains them"
    )
    assert "3 kept samples beyond" in plan.render()


def test_curation_says_it_once_on_the_console(tmp_path, caplog):
    config = _config(tmp_path)
    samples = [Sample(id=f"s{i}", prompt=f"p{i}", references=[f"r{i}"]) for i in range(32)]
    reflections = [
        ReflectionRecord(
            id=s.id, prompt_hash="h", output="r", ce=float(i), prompt_tokens=1, response_tokens=1, output_tokens=1
        )
        for i, s in enumerate(samples)
    ]
    run_dir = tmp_path / "rem"
    run_dir.mkdir()
    from srd_core.io import write_jsonl_atomic

    write_jsonl_atomic(run_dir / "reflection.jsonl", [r.to_dict() for r in reflections])
    with caplog.at_level(logging.WARNING, logger="srd_core"):
        records = curation.run_curation(config, run_dir, samples=samples)
    assert sum(r.kept for r in records) == 19 and sum(r.bin is not None for r in records) == 16
    notices = [r.getMessage() for r in caplog.records if "beyond" in r.getMessage()]
    assert notices == [
        "curation: 3 kept samples beyond 4 × 4 are not trained; `curriculum.pacer.remainder: last` trains them"
    ]
