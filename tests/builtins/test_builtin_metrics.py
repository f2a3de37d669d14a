"""Built-in difficulty metrics: ROUGE-L and cross-entropy values and directions."""

from __future__ import annotations

import pytest
from rouge_score import rouge_scorer

from srd_core.plugins import get_component
from srd_core.types import ReflectionRecord, Sample


def _pair(output: str, references: list[str], ce: float = 1.0, sid: str = "a"):
    sample = Sample(id=sid, prompt="p", references=references)
    reflection = ReflectionRecord(
        id=sid, prompt_hash="h", output=output, ce=ce, prompt_tokens=1, response_tokens=1, output_tokens=1
    )
    return sample, reflection


def test_directions_and_registration():
    rouge = get_component("difficulty_metric", "rouge_l")
    ce = get_component("difficulty_metric", "cross_entropy")
    assert rouge.higher_is_easier is True and ce.higher_is_easier is False
    assert not rouge.needs_model and not ce.needs_model


def test_rouge_l_matches_rouge_score_with_stemming_and_best_reference():
    metric = get_component("difficulty_metric", "rouge_l")
    pairs = [
        _pair("the cats are running", ["the cat runs quickly"]),
        _pair("Paris is the capital", ["Berlin", "paris is the capital of france"]),
        _pair("", ["something"]),
        _pair("identical answer", ["identical answer"]),
        _pair("ünïcödé 東京 text", ["東京 text here"]),
    ]
    samples, reflections = zip(*pairs, strict=True)
    values = metric.score(list(samples), list(reflections))
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    expected = [max(scorer.score(ref, r.output)["rougeL"].fmeasure for ref in s.references) for s, r in pairs]
    assert values == pytest.approx(expected, abs=0)
    assert values[2] == 0.0 and values[3] == 1.0
    assert values[0] > 0.5  # stemming: cats/cat, running/runs


def test_cross_entropy_reads_the_reflection():
    metric = get_component("difficulty_metric", "cross_entropy")
    pairs = [_pair("x", ["y"], ce=2.5, sid="a"), _pair("x", ["y"], ce=0.125, sid="b")]
    samples, reflections = zip(*pairs, strict=True)
    assert metric.score(list(samples), list(reflections)) == [2.5, 0.125]
