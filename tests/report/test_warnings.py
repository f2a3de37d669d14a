"""Warnings from a run's artifacts: once each on the console and in report.html; a too-small eval set
turns the verdict into "too few to call a winner"."""

from __future__ import annotations

import json
import logging

import pytest
from report_fixture import build_fake_run

from srd_core.report.build import write_report
from srd_core.report.data import load_run
from srd_core.report.summary import compute_verdict, summarize
from srd_core.report.warnings import run_warnings


def _rewrite(path, change) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line]
    path.write_text("".join(json.dumps(change(i, r)) + "\n" for i, r in enumerate(rows)))


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


def test_a_clean_run_has_no_warnings(tmp_path, console):
    run_dir = build_fake_run(tmp_path / "clean")
    assert run_warnings(load_run(run_dir)) == []
    page = write_report(run_dir).read_text()
    assert 'id="warnings"' not in page and console == []


def test_each_warning_once_on_the_console_and_in_the_report(tmp_path, console):
    run_dir = build_fake_run(tmp_path / "warned")
    (run_dir / "config.yaml").write_text("run: {name: demo}\ndata: {max_prompt_tokens: 64}\n")
    _rewrite(
        run_dir / "reflection.jsonl",
        lambda i, r: {**r, "prompt_truncated": i < 12, "output": "" if i % 10 == 0 else r["output"]},
    )
    _rewrite(run_dir / "curation.jsonl", lambda i, r: {**r, "values": {**r["values"], "rouge_l": 0.0}})
    _rewrite(run_dir / "eval.jsonl", lambda i, r: {**r, "n": 20})
    run = load_run(run_dir)
    n = len(run.reflection)
    expected = [
        f"12 of {n} ({12 / n:.1%}) training prompts were cut from the left to data.max_prompt_tokens=64 tokens; "
        "raise data.max_prompt_tokens (and data.max_length with it) to keep them whole",
        f"{n // 10} of {n} ({(n // 10) / n:.1%}) reflections are empty",
        f"difficulty metric 'rouge_l' has the same value (0.0) for all {n} training samples: its ranks are just "
        "the data order",
        "the eval set has only 20 samples, too few to call a winner (at least 50)",
    ]
    warnings = run_warnings(run)
    assert len(warnings) == 4
    assert all(w.startswith(e) for w, e in zip(warnings, expected, strict=True))

    verdict = compute_verdict(summarize(run))
    assert verdict.winner is None
    assert verdict.text.startswith(
        "The eval set has only 20 samples, too few to call a winner (at least 50): SRD 45.3 vs plain KD 41.0 ROUGE-L."
    )
    assert "wins" not in verdict.text

    page = write_report(run_dir).read_text()
    assert page.count("<li>") >= 4 and 'id="warnings"' in page
    for w in warnings:
        assert page.count(w.split(":")[0].replace("'", "&#x27;")) == 1
    assert console == [f"warning: {w}" for w in warnings]  # each once


def test_srd_report_logs_on_stderr_and_prints_the_result_on_stdout(tmp_path):
    from click.testing import CliRunner

    from srd_core.cli import cli

    run_dir = build_fake_run(tmp_path / "cli")
    _rewrite(run_dir / "eval.jsonl", lambda i, r: {**r, "n": 20})
    result = CliRunner().invoke(cli, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {run_dir / 'report.html'}\n"
    assert result.stderr.count("warning:") == 1 and "20" in result.stderr


def test_cut_eval_prompts_and_an_untrained_remainder_are_in_the_report(tmp_path):
    run_dir = build_fake_run(tmp_path / "run")
    _rewrite(run_dir / "eval.jsonl", lambda i, r: {**r, "prompts_truncated": 7 if r["model"] == "srd" else 0})
    # 91 kept: 3 × 30 binned, one kept sample in no bin (remainder: drop)
    rows = [json.loads(line) for line in (run_dir / "curation.jsonl").read_text().splitlines()]
    first_dropped = next(i for i, r in enumerate(rows) if not r["kept"])
    _rewrite(run_dir / "curation.jsonl", lambda i, r: {**r, "kept": True, "bin": None} if i == first_dropped else r)
    kept = sum(json.loads(line)["kept"] for line in (run_dir / "curation.jsonl").read_text().splitlines())
    config = (run_dir / "config.yaml").read_text()
    (run_dir / "config.yaml").write_text(
        config + "curriculum: {pacer: {name: baby_step, num_bins: 3, remainder: drop}}\n"
    )
    run = load_run(run_dir)
    assert "7 of 50 (14.0%) evaluation prompts were cut from the left to data.max_prompt_tokens" in " ".join(
        run_warnings(run)
    )
    page = write_report(run_dir).read_text()
    assert "evaluation prompts were cut from the left" in page
    assert (
        kept == 91
        and (
            'id="cur-remainder">1 kept sample beyond 3 × 30 is not trained; '
            "`curriculum.pacer.remainder: last` trains it.</p>"
        )
        in page
    )
