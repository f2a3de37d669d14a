"""The run report: self-contained HTML, every plot labelled, numbers and verdict computed from the artifacts."""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from paths import REPO
from report_fixture import add_stratified_arm, build_fake_run

from srd_core.cli import cli
from srd_core.errors import DataError
from srd_core.report.build import PLOTS, build_report, write_report
from srd_core.report.data import load_run
from srd_core.report.html import render_html
from srd_core.report.summary import compute_verdict, summarize

ALL_PLOTS = {spec.name for spec in PLOTS}


def _cell(page: str, cell_id: str) -> str:
    match = re.search(rf'id="{re.escape(cell_id)}">([^<]*)<', page)
    assert match, f"no cell {cell_id!r} in the report"
    return match.group(1)


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> tuple[Path, str]:
    """A complete fake run reported through the CLI (the other tests call ``write_report`` in-process)."""
    run_dir = build_fake_run(tmp_path_factory.mktemp("report") / "run")
    result = CliRunner().invoke(cli, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {run_dir / 'report.html'}"
    return run_dir, (run_dir / "report.html").read_text(encoding="utf-8")


def test_html_is_self_contained_with_every_plot_embedded(full_run):
    run_dir, page = full_run
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "<script" not in page and "url(" not in page
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == len(ALL_PLOTS)
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    embedded = {base64.b64decode(src.split(",", 1)[1]) for src in sources}
    for name in ALL_PLOTS:
        png = (run_dir / "plots" / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and png in embedded, name
    assert not list((run_dir / "plots").glob(".*.tmp")) and not list(run_dir.glob(".*.tmp"))


def test_text_is_escaped(full_run):
    _, page = full_run
    assert "<h1>demo &lt;run&gt; &amp; co</h1>" in page
    assert "<run>" not in page


def test_summary_numbers_match_the_artifacts(full_run):
    run_dir, page = full_run
    meta = {r["id"]: r for r in _read_jsonl(run_dir / "samples_meta.jsonl")}
    curation = _read_jsonl(run_dir / "curation.jsonl")
    dropped = [r for r in curation if not r["kept"]]
    kept = [r for r in curation if r["kept"]]
    share_dropped = sum(meta[r["id"]]["noisy"] for r in dropped) / len(dropped)
    share_kept = sum(meta[r["id"]]["noisy"] for r in kept) / len(kept)
    assert share_dropped > share_kept  # the fixture's noisy samples are mostly hard
    assert _cell(page, "noisy-share-dropped") == f"{100 * share_dropped:.1f}%"
    assert _cell(page, "noisy-share-kept") == f"{100 * share_kept:.1f}%"
    assert _cell(page, "cur-kept") == str(len(kept))
    assert _cell(page, "cur-dropped") == str(len(dropped))

    finals = {r["model"]: r["score"] for r in _read_jsonl(run_dir / "eval.jsonl")}
    for model in ("teacher", "student_init", "srd", "baseline"):
        assert _cell(page, f"score-{model}") == f"{finals[model]:.1f}"
    for method in ("srd", "baseline"):
        metrics = _read_jsonl(run_dir / method / "metrics.jsonl")
        assert _cell(page, f"tokens-{method}") == f"{metrics[-1]['tokens']:,}"
        assert _cell(page, f"response_tokens-{method}") == f"{metrics[-1]['response_tokens']:,}"
        assert _cell(page, f"steps-{method}") == str(metrics[-1]["step"])
    assert _cell(page, "reflect-time") == "21.5 s"
    assert _cell(page, "set-srd-sinst") == f"{finals['srd'] - 5.0:.1f}"
    assert _cell(page, "set-srd-mean") == f"{finals['srd'] - 2.5:.1f}"
    assert _cell(page, "set-baseline-sinst") == "not available"
    assert _cell(page, "set-baseline-mean") == "not available"
    assert _cell(page, "train_seconds-srd") == "1 min 54 s"  # last wall_time of srd/metrics.jsonl: 60 × 1.9 s


def test_verdict_names_the_winner_from_the_numbers(full_run, tmp_path):
    _, page = full_run
    headline = re.search(r'id="verdict-headline"><b>Verdict.</b> ([^<]*)<', page).group(1)
    # one short sentence first: who won, by how much, how sure
    assert headline == "SRD wins by 4.3 ROUGE-L points, beyond the seed spread of ±0.6."
    verdict = re.search(r'id="verdict-headline">.*?</p><p>([^<]*)</p>', page).group(1)
    assert verdict.startswith("SRD wins: it beats plain KD (baseline) by 4.3 ROUGE-L points")
    assert "same budget" in verdict

    swapped = load_run(build_fake_run(tmp_path / "swapped", srd_score=38.0, baseline_score=44.5))
    result = compute_verdict(summarize(swapped))
    assert result.winner == "baseline"
    assert result.text.startswith("plain KD (baseline) wins: it beats SRD by 6.5 ROUGE-L points")
    assert result.headline == "Plain KD wins by 6.5 ROUGE-L points, beyond the seed spread of ±0.6."
    for row in (summarized := summarize(swapped)).scores.values():
        row.pop("sd", None)
    for method in summarized.methods.values():
        method.sd = None
    assert compute_verdict(summarized).headline == (
        "Plain KD wins by 6.5 ROUGE-L points on one evaluation pass; how sure is unknown (`srd experiment` gives "
        "an interval)."
    )

    close = load_run(build_fake_run(tmp_path / "close", srd_score=42.0, baseline_score=41.5, sd=1.0))
    result = compute_verdict(summarize(close))
    assert result.winner == "tie"
    assert "within the seed-to-seed spread" in result.text
    assert result.headline == "A tie: 0.5 points apart, within the seed spread (±1.4)."


def test_verdict_warns_when_the_teacher_has_little_to_transfer(tmp_path):
    run_dir = build_fake_run(tmp_path / "run")
    rows = _read_jsonl(run_dir / "eval.jsonl")
    for row in rows:
        row["score"] = {"teacher": 36.0, "student_init": 30.1}.get(row["model"], row["score"])
    (run_dir / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = compute_verdict(summarize(load_run(run_dir))).text
    assert "the teacher is only 5.9 points above the initial student" in text


def test_every_figure_has_title_axis_labels_and_legend(full_run):
    report = build_report(full_run[0])
    assert set(report.figures) == ALL_PLOTS
    for name, fig in report.figures.items():
        assert fig is not None, name
        axes = [ax for ax in fig.axes if ax.get_visible()]
        assert axes, name
        for ax in axes:
            assert ax.get_title(), name
            assert ax.get_xlabel() and ax.get_ylabel(), (name, ax.get_title())
            legend = ax.get_legend()
            assert legend is not None and legend.get_texts(), (name, ax.get_title())


def test_missing_pieces_say_not_available(tmp_path):
    run_dir = build_fake_run(tmp_path / "run")
    shutil.rmtree(run_dir / "baseline")
    (run_dir / "srd" / "eval.jsonl").unlink()
    for name in ("samples_meta.jsonl", "timings.json"):
        (run_dir / name).unlink()
    (run_dir / "config.yaml").write_text("teacher: {path: t}\nstudent: {path: s}\ndata: {train: no_such_task}\n")
    rows = [r for r in _read_jsonl(run_dir / "eval.jsonl") if r["model"] != "baseline"]
    (run_dir / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run_dir / "plots").mkdir()
    (run_dir / "plots" / "eval_curves.png").write_bytes(b"stale")

    page = write_report(run_dir).read_text()
    assert _cell(page, "score-baseline") == "not available"
    assert _cell(page, "noisy-share-dropped") == "not available"
    assert _cell(page, "reflect-time") == "not available"
    assert "Not available: no evaluations during training" in page
    assert "no per-sample noise metadata (samples_meta.jsonl)" in page
    assert "the baseline&#x27;s final score is not available" in page
    assert "training-sample metadata could not be rebuilt from config.yaml (ConfigError" in page
    assert "<h1>run</h1>" in page  # no run.name in the config: the folder's name
    assert not (run_dir / "plots" / "eval_curves.png").exists()  # a stale plot is not left behind
    assert (run_dir / "plots" / "schedules.png").is_file()
    assert compute_verdict(summarize(load_run(run_dir))).winner is None


def test_empty_run_dir_still_reports(tmp_path):
    page = write_report(tmp_path).read_text()
    assert page.count("Not available") == len(ALL_PLOTS)
    assert "No final evaluation of SRD or the baseline is available" in page


def test_torn_last_line_is_ignored_but_a_corrupt_line_is_an_error(tmp_path):
    run_dir = build_fake_run(tmp_path / "run")
    metrics = run_dir / "srd" / "metrics.jsonl"
    with metrics.open("a") as fh:
        fh.write('{"step": 65, "lo')  # a crash mid-append
    assert len(load_run(run_dir).metrics["srd"]) == 12

    lines = metrics.read_text().splitlines()
    lines[2] = "{not json"
    metrics.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"srd/metrics.jsonl: line 3 is not valid JSON"):
        load_run(run_dir)
    result = CliRunner().invoke(cli, ["report", str(run_dir)])
    assert result.exit_code == 2
    assert "line 3 is not valid JSON" in result.output


def test_finished_training_summary_beats_the_last_logged_row(tmp_path):
    run_dir = build_fake_run(tmp_path / "run")
    summary_json = json.loads((run_dir / "srd" / "summary.json").read_text())
    summary_json.update(steps=61, response_tokens=99_999, wall_time=250.0)
    (run_dir / "srd" / "summary.json").write_text(json.dumps(summary_json))
    srd = summarize(load_run(run_dir)).methods["srd"]
    assert (srd.steps, srd.response_tokens, srd.train_seconds) == (61, 99_999, 250.0)
    result = compute_verdict(summarize(load_run(run_dir)))
    assert "SRD trained 61 optimizer steps, the baseline 60 (1.02× as many" in result.text


def test_sample_metadata_is_rebuilt_from_the_config_without_samples_meta(tmp_path):
    from srd_core.config import load_config
    from srd_core.data.samples import load_samples

    (tmp_path / "config.yaml").write_text(
        "run: {name: meta-from-config}\nteacher: {path: unused}\nstudent: {path: unused}\n"
        "data:\n  train: {name: synthetic, n_train: 60, n_eval: 10, noise: 0.1, seed: 3}\n"
    )
    samples = load_samples(load_config(tmp_path / "config.yaml"), "train")
    rows = [
        {
            "id": s.id,
            "values": {},
            "ranks": {},
            "fused": 1.0 / (i + 1),
            "rank": i + 1,
            "kept": i < 45,
            "bin": i // 15 if i < 45 else None,
        }
        for i, s in enumerate(samples)
    ]
    (tmp_path / "curation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    run = load_run(tmp_path)
    assert run.samples_meta_source == "config.yaml (training data reloaded)", run.notes
    assert run.title == "meta-from-config"
    curation = summarize(run).curation
    noisy = [i for i, s in enumerate(samples) if s.meta["noisy"]]
    assert curation.noisy_total == len(noisy) == 6
    assert curation.noisy_dropped == sum(1 for i in noisy if i >= 45)


def test_not_a_directory_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "not a run directory" in result.output


def test_directory_without_run_artifacts_is_refused_and_left_empty(tmp_path):
    """A folder that holds no run artifact gets no report.html and no .lock."""
    (tmp_path / "notes.txt").write_text("not a run\n")
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"srd: error: {tmp_path}: not a run directory (none of config.yaml")
    assert len(result.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.skipif(
    not Path("/usr/bin/chromium").exists() and shutil.which("chromium") is None,
    reason="headless Chromium is not installed (Debian: apt-get install -y chromium)",
)
def test_screenshot_in_headless_chromium(full_run, tmp_path):
    from PIL import Image

    run_dir, _ = full_run
    out = tmp_path / "report.png"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "screenshot_report.py"),
            str(run_dir),
            "--out",
            str(out),
            "--height",
            "3000",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    image = Image.open(out).convert("RGB")
    assert image.size == (1280, 3000)
    small = image.resize((320, 750))
    colors = {color: count for count, color in small.getcolors(small.width * small.height)}
    assert len(colors) > 200  # text, tables and plots, not a blank or error page
    ink = small.width * small.height - colors[small.getpixel((2, 2))]  # not the page background
    assert ink > 0.3 * small.width * small.height


def _widen(run_dir: Path) -> None:
    """The demo's widest tables: per-family scores of all four models, and eight evaluation sets."""
    rows = _read_jsonl(run_dir / "eval.jsonl")
    families = next(r["per_family"] for r in rows if "per_family" in r)
    (run_dir / "eval.jsonl").write_text("".join(json.dumps({**r, "per_family": families}) + "\n" for r in rows))
    sets = [
        "dolly",
        "self-instruct",
        "vicuna",
        "super-natural-instructions",
        "unnatural-instructions",
        "alpaca-eval",
        "koala",
        "wizardlm",
    ]
    (run_dir / "eval_sets.jsonl").write_text(
        "".join(
            json.dumps({"model": m, "set": s, "score": 50.0, "sd": 1.0, "n": 20, "protocol": "distillm"}) + "\n"
            for m in ("teacher", "student_init", "srd", "baseline")
            for s in sets
        )
    )


@pytest.mark.skipif(
    not Path("/usr/bin/chromium").exists() and shutil.which("chromium") is None,
    reason="headless Chromium is not installed (Debian: apt-get install -y chromium)",
)
def test_report_fits_a_1280_px_page_without_horizontal_scroll(tmp_path):
    """Wide tables wrap or scroll inside themselves: the page's own width never exceeds the window's."""
    sys.path.insert(0, str(REPO / "scripts"))
    from screenshot_report import page_width

    run_dir = add_stratified_arm(build_fake_run(tmp_path / ("a-long-run-directory-name-" * 4 + "run")))
    _widen(run_dir)  # three arms, two curations: each curation's tables and figures side by side or stacked
    page = write_report(run_dir)
    assert page.read_text().count('<div class="scroll"><table>') >= 6
    scroll, client = page_width(page, width=1280)
    assert client == 1280 and scroll <= client, (scroll, client)
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "screenshot_report.py"),
            str(run_dir),
            "--out",
            str(tmp_path / "r.png"),
            "--height",
            "1000",
            "--check-width",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_each_compared_pair_is_its_own_paragraph_after_the_headline(tmp_path):
    """With several arms the verdict is a headline, then one paragraph per pair, then the notes: never one block."""
    summarized = summarize(load_run(build_fake_run(tmp_path / "run")))
    summarized.methods["kd_equal"] = dataclasses.replace(summarized.methods["baseline"], final=47.0)
    summarized.arms.append("kd_equal")
    summarized.pairs = [("srd", "baseline"), ("srd", "kd_equal")]
    verdict = compute_verdict(summarized)
    assert len(verdict.paragraphs) >= 2 and verdict.text == " ".join(verdict.paragraphs)
    assert verdict.paragraphs[0].startswith("SRD wins: it beats plain KD (baseline)")
    assert verdict.paragraphs[1].startswith("SRD against ")
    assert "kd_equal" not in verdict.paragraphs[0]
    page = render_html(dataclasses.replace(build_report(tmp_path / "run"), verdict=verdict), {})
    block = re.search(r'<div class="verdict[^>]*>(.*?)</div>', page, re.S).group(1)
    assert [html.unescape(p) for p in re.findall(r"<p>([^<]*)</p>", block)] == verdict.paragraphs
