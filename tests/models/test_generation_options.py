"""no_repeat_ngram_size in generation, reflection (and its cache key) and evaluation; CE without EOS."""

from __future__ import annotations

import math

import pytest
import torch
from tiny import tiny_llama, train_tokenizer

from srd_core.config import EvalConfig, ReflectionConfig
from srd_core.data.encoding import encode_example, encode_prompt, ensure_pad_token
from srd_core.evaluation.evaluate import evaluate_with, settings_for
from srd_core.models.generation import GenerationSettings, generate_batch
from srd_core.reflection.reflect import reflection_key, response_ce, without_final_eos
from srd_core.types import Sample

PROMPTS = ["count: one two three", "repeat after me: red red red", "name: ada lovelace", "sort: b a c"]


@pytest.fixture(scope="module")
def pair():
    tok = train_tokenizer(PROMPTS * 4 + ["four five six seven"], vocab_size=300)
    ensure_pad_token(tok)
    return tiny_llama(len(tok), hidden=16, layers=1, heads=2, seed=3, tokenizer=tok).eval(), tok


def _repeated_ngrams(ids: tuple[list[int], list[int]], n: int) -> int:
    """Generated positions whose n-gram (ending there) already occurred earlier in prompt + output."""
    prompt, new = ids
    seq = prompt + new
    repeats = 0
    for end in range(len(prompt), len(seq)):
        if end + 1 >= n:
            gram = tuple(seq[end + 1 - n : end + 1])
            earlier = {tuple(seq[i : i + n]) for i in range(end + 1 - n)}
            repeats += gram in earlier
    return repeats


def _outputs(pair, ngram: int, do_sample: bool = False) -> list[tuple[list[int], list[int]]]:
    model, tok = pair
    settings = GenerationSettings(
        max_new_tokens=24, do_sample=do_sample, temperature=0.01, top_k=0, no_repeat_ngram_size=ngram
    )  # sampled as the official reflection: T = 0.01
    out = []
    for prompt in PROMPTS:  # one prompt per batch: no padding inside the checked sequence
        ids = encode_prompt(tok, prompt, 64).input_ids
        out.append((ids, generate_batch(model, tok, [ids], settings, generator_seed=1)[0]))
    return out


@pytest.mark.parametrize("do_sample", [False, True])
def test_no_repeat_ngram_size_blocks_repeats(pair, do_sample):
    plain = _outputs(pair, 0, do_sample)
    assert sum(_repeated_ngrams(ids, 2) for ids in plain) > 0  # this random model repeats itself
    blocked = _outputs(pair, 2, do_sample)
    assert all(_repeated_ngrams(ids, 2) == 0 for ids in blocked)
    assert blocked != plain


def test_reflection_key_holds_the_new_options():
    samples = [Sample("a", "p", ["r"])]
    base = reflection_key(samples, {"path": "m"}, ReflectionConfig(), 256, 512, 0)
    assert "no_repeat_ngram_size" not in base["generation"] and "ce_exclude_eos" not in base["generation"]
    ngram = reflection_key(samples, {"path": "m"}, ReflectionConfig(no_repeat_ngram_size=6), 256, 512, 0)
    eos = reflection_key(samples, {"path": "m"}, ReflectionConfig(ce_exclude_eos=True), 256, 512, 0)
    assert ngram["generation"]["no_repeat_ngram_size"] == 6 and eos["generation"]["ce_exclude_eos"] is True
    assert len({repr(base), repr(ngram), repr(eos)}) == 3


def test_ce_without_eos_leaves_the_last_token_out(pair):
    model, tok = pair
    samples = [Sample("a", "count: one", ["two three"]), Sample("b", "name:", ["ada lovelace four five"])]
    with_eos = response_ce(model, tok, samples, 64, 128)
    without = response_ce(model, tok, samples, 64, 128, exclude_eos=True)
    for sample, (ce_all, n_all), (ce, n) in zip(samples, with_eos, without, strict=True):
        example = encode_example(tok, sample.prompt, sample.target, 64, 128)
        assert example.labels[-1] == tok.eos_token_id and n == n_all - 1
        labels = without_final_eos(example, tok.eos_token_id).labels
        assert labels[-1] == -100 and labels[:-1] == example.labels[:-1]
        with torch.no_grad():  # reference: HF's own loss with the EOS label ignored
            ref = model(input_ids=torch.tensor([example.input_ids]), labels=torch.tensor([labels])).loss
        assert math.isclose(ce, float(ref), rel_tol=1e-4) and not math.isclose(ce, ce_all, rel_tol=1e-6)
    cut = encode_example(tok, "p", "one two three four five six seven", 4, 6)  # truncated: no EOS to drop
    assert cut.labels[-1] != tok.eos_token_id and without_final_eos(cut, tok.eos_token_id) == cut


def test_eval_passes_no_repeat_ngram_and_scores_greedy_alongside_the_seeds():
    cfg = EvalConfig(protocol="distillm", seeds=[10, 20], no_repeat_ngram_size=6, with_greedy=True)
    passes = settings_for(cfg)
    assert [label for label, _ in passes] == ["10", "20", "greedy"]
    assert all(s.no_repeat_ngram_size == 6 for _, s in passes)
    assert [s.do_sample for _, s in passes] == [True, True, False]
    samples = [Sample("a", "p1", ["x y"]), Sample("b", "p2", ["z"])]

    def generator(prompts, settings):
        return ["x y", "z"] if not settings.do_sample else (["x y", ""] if settings.seed == 10 else ["", ""])

    result = evaluate_with(generator, samples, cfg)
    assert result.per_seed == {"10": pytest.approx(50.0), "20": 0.0}
    assert result.score == pytest.approx(25.0) and result.greedy == pytest.approx(100.0)
    assert result.to_row("m")["greedy"] == pytest.approx(100.0)
    greedy_only = evaluate_with(generator, samples, EvalConfig())
    assert greedy_only.greedy == greedy_only.score == pytest.approx(100.0)
    assert settings_for(EvalConfig(protocol="distillm", seeds=[1]))[-1][0] == "1"  # with_greedy off
