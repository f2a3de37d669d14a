"""Evaluation: greedy determinism, the DistiLLM seed protocol, perfect answers score 100, eval.jsonl rows."""

from __future__ import annotations

import statistics

import pytest
import yaml
from click.testing import CliRunner
from tiny import save_pair, tiny_llama, train_tokenizer

from srd_core.cli import cli
from srd_core.config import EvalConfig, SFTConfig
from srd_core.evaluation.evaluate import evaluate_model, evaluate_with, score_predictions, write_eval_row
from srd_core.io import read_jsonl
from srd_core.plugins import get_component
from srd_core.types import Sample


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return get_component("task", "synthetic", n_train=40, n_eval=12, seed=0).load("eval")


@pytest.fixture(scope="module")
def tiny_pair(samples):
    tok = train_tokenizer([s.prompt + s.target for s in samples], vocab_size=320)
    return tiny_llama(len(tok), hidden=32, layers=2, heads=2, seed=0, tokenizer=tok), tok


def test_echoing_the_references_scores_100(samples):
    answers = {s.prompt: s.target for s in samples}
    result = evaluate_with(lambda prompts, settings: [answers[p] for p in prompts], samples, EvalConfig())
    assert result.score == pytest.approx(100.0) and result.sd == 0.0 and result.n == len(samples)
    assert result.per_seed == {"greedy": pytest.approx(100.0)}
    assert set(result.per_family) == {s.meta["family"] for s in samples}
    assert all(v == pytest.approx(100.0) for v in result.per_family.values())


def test_scores_are_rouge_l_times_100_per_family():
    items = [Sample("a", "p1", ["red green blue"], {"family": "x"}), Sample("b", "p2", ["one two"], {"family": "y"})]
    mean, families = score_predictions(items, ["red blue", "nothing"])
    # "red blue" vs "red green blue": LCS 2, precision 1, recall 2/3 → F1 0.8
    assert families == {"x": pytest.approx(80.0), "y": 0.0}
    assert mean == pytest.approx(40.0)
    assert score_predictions([Sample("c", "p", ["a b"])], ["a b"])[1] == {}


def test_distillm_protocol_mean_and_sd_over_seeds(samples):
    answers = {s.prompt: s.target for s in samples}
    half = len(samples) // 2

    def generator(prompts, settings):
        assert settings.do_sample and settings.temperature == 1.0 and settings.top_k == 0
        right = {10: len(prompts), 20: half, 30: 0}[settings.seed]
        return [answers[p] if i < right else "" for i, p in enumerate(prompts)]

    result = evaluate_with(generator, samples, EvalConfig(protocol="distillm", seeds=[10, 20, 30]))
    assert result.per_seed == {"10": pytest.approx(100.0), "20": pytest.approx(50.0), "30": 0.0}
    assert result.score == pytest.approx(50.0)
    assert result.sd == pytest.approx(statistics.stdev([100.0, 50.0, 0.0]))


def test_greedy_on_a_tiny_model_is_deterministic(tiny_pair, samples):
    model, tok = tiny_pair
    cfg = EvalConfig(max_new_tokens=6, batch_size=5)
    first = evaluate_model(model, tok, samples, cfg, max_prompt_tokens=128)
    second = evaluate_model(model, tok, samples, cfg, max_prompt_tokens=128)
    assert first.predictions == second.predictions and first.score == second.score
    assert list(first.per_seed) == ["greedy"] and first.sd == 0.0
    assert evaluate_model(model, tok, samples, cfg.model_copy(update={"max_samples": 4}), 128).n == 4


def test_distillm_on_a_tiny_model_is_seeded(tiny_pair, samples):
    model, tok = tiny_pair
    cfg = EvalConfig(protocol="distillm", seeds=[10, 20], max_new_tokens=4, batch_size=6)
    first = evaluate_model(model, tok, samples, cfg, max_prompt_tokens=128)
    second = evaluate_model(model, tok, samples, cfg, max_prompt_tokens=128)
    assert list(first.per_seed) == ["10", "20"] and first.per_seed == second.per_seed
    assert first.score == pytest.approx(statistics.fmean(first.per_seed.values()))


def test_a_model_that_learned_its_answer_scores_100():
    from srd_core.models.prepare import sft

    items = [Sample(f"s{i}", f"Say the colour number {i}.\n", [f"green {i}"]) for i in range(3)]
    tok = train_tokenizer([s.prompt + s.target for s in items], vocab_size=300)
    model = tiny_llama(len(tok), hidden=32, layers=1, heads=2, seed=0, tokenizer=tok)
    sft(model, tok, items * 4, SFTConfig(steps=60, batch_size=6, lr=1e-2), 32, 48, seed=0)
    result = evaluate_model(model, tok, items, EvalConfig(max_new_tokens=6), max_prompt_tokens=32)
    assert result.predictions == ["green 0", "green 1", "green 2"]
    assert result.score == pytest.approx(100.0)


def test_eval_rows_replace_by_model(tmp_path):
    path = tmp_path / "eval.jsonl"
    write_eval_row(path, {"model": "teacher", "score": 1.0})
    write_eval_row(path, {"model": "srd", "score": 2.0})
    write_eval_row(path, {"model": "teacher", "score": 3.0})
    assert read_jsonl(path) == [{"model": "srd", "score": 2.0}, {"model": "teacher", "score": 3.0}]


def test_cli_evaluate_a_model_directory(tmp_path, tiny_pair):
    model, tok = tiny_pair
    model_dir = save_pair(tmp_path / "m", model, tok)
    raw = {
        "run": {"name": "r", "output_dir": str(tmp_path)},
        "teacher": {"path": str(model_dir)},
        "student": {"path": str(model_dir)},
        "data": {"train": {"name": "synthetic", "n_train": 40, "n_eval": 12}, "limit_eval": 5},
        "eval": {"max_new_tokens": 4},
    }
    config_file = tmp_path / "c.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    runner = CliRunner()
    result = runner.invoke(cli, ["evaluate", str(config_file), "--model", "teacher"])
    assert result.exit_code == 0, result.output
    assert "teacher: ROUGE-L" in result.output and "on 5 samples" in result.output
    rows = read_jsonl(tmp_path / "r" / "eval.jsonl")
    assert [r["model"] for r in rows] == ["teacher"] and rows[0]["n"] == 5 and rows[0]["protocol"] == "greedy"
    assert set(rows[0]["per_family"]) <= {"copy", "name_format", "reverse", "lookup", "date", "count", "sort", "add"}
    result = runner.invoke(cli, ["evaluate", str(config_file), "--model", str(model_dir)])
    assert result.exit_code == 0, result.output
    assert [r["model"] for r in read_jsonl(tmp_path / "r" / "eval.jsonl")] == ["teacher", str(model_dir)]
    missing = runner.invoke(cli, ["evaluate", str(config_file), "--model", "srd"])
    assert missing.exit_code == 2 and "no trained model yet" in missing.output
    bogus = runner.invoke(cli, ["evaluate", str(config_file), "--model", "nonsense"])
    assert bogus.exit_code == 2 and "expected one of teacher, student, srd, baseline" in bogus.output


def test_prompts_cut_to_max_prompt_tokens_are_counted_and_reported_once(tmp_path, tiny_pair, samples, capfd):
    """No bare transformers warning per long prompt: the count, once, with the setting that controls it."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_warning()  # as a plain process has it (an earlier CLI test may have silenced it)
    model, tok = tiny_pair
    model_dir = save_pair(tmp_path / "m", model, tok)
    tok.model_max_length = 8  # shorter than every prompt: transformers would warn "Token indices sequence length"
    lengths = [len(tok(s.prompt, verbose=False)["input_ids"]) for s in samples[:5]]
    result = evaluate_model(model, tok, samples[:5], EvalConfig(max_new_tokens=2), max_prompt_tokens=8)
    assert result.prompts_truncated == sum(n > 8 for n in lengths) == 5
    assert result.to_row("teacher")["prompts_truncated"] == 5
    assert "Token indices sequence length" not in capfd.readouterr().err

    raw = {
        "run": {"name": "r", "output_dir": str(tmp_path)},
        "teacher": {"path": str(model_dir)},
        "student": {"path": str(model_dir)},
        "data": {
            "train": {"name": "synthetic", "n_train": 40, "n_eval": 12},
            "limit_eval": 5,
            "max_prompt_tokens": 8,
            "max_length": 16,
        },
        "eval": {"max_new_tokens": 2},
    }
    config_file = tmp_path / "c.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    out = CliRunner().invoke(cli, ["evaluate", str(config_file), "--model", "teacher"])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())  # rich wraps the log line
    assert text.count("are longer than data.max_prompt_tokens") == 1, out.output
    assert (
        "evaluation: 5 of 5 prompts (100.0%) are longer than data.max_prompt_tokens=8 tokens and were cut from "
        "the left; raise data.max_prompt_tokens"
    ) in text
    assert "Token indices sequence length" not in out.output
