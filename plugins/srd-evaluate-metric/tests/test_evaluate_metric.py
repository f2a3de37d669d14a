"""hf_evaluate with a local metric script (offline): per-sample scores, key, direction, references."""

from __future__ import annotations

from pathlib import Path

import pytest
from srd_evaluate_metric.metric import EvaluateMetric

from srd_core.errors import PluginError
from srd_core.types import ReflectionRecord, Sample

SCRIPT = str(Path(__file__).parent / "metrics" / "word_overlap" / "word_overlap.py")


def reflection(output: str, sid: str) -> ReflectionRecord:
    return ReflectionRecord(
        id=sid, prompt_hash="h", output=output, ce=0.0, prompt_tokens=1, response_tokens=1, output_tokens=1
    )


SAMPLES = [
    Sample(id="a", prompt="p", references=["the red fox jumps"]),
    Sample(id="b", prompt="p", references=["one two three four", "blue sky"]),
    Sample(id="c", prompt="p", references=["alpha beta"]),
]
OUTPUTS = [reflection("The red fox", "a"), reflection("blue sky today", "b"), reflection("gamma", "c")]


def build(**params) -> EvaluateMetric:
    return EvaluateMetric(EvaluateMetric.Params(path=SCRIPT, **params))


def test_per_sample_scores_best_reference():
    metric = build(key="overlap")
    assert metric.higher_is_easier
    assert metric.score(SAMPLES, OUTPUTS) == pytest.approx([0.75, 1.0, 0.0])


def test_scalar_key_falls_back_to_one_call_per_sample_and_direction():
    metric = build(key="mean_overlap", direction="lower_is_easier")
    assert metric.higher_is_easier is False
    # lower is easier: the *worst*-matching reference is kept for b
    assert metric.score(SAMPLES, OUTPUTS) == pytest.approx([0.75, 0.0, 0.0])


def test_default_key_is_the_only_number_and_compute_kwargs():
    metric = build(compute_kwargs={"lowercase": False})
    assert metric.score(SAMPLES[:1], OUTPUTS[:1]) == pytest.approx([0.5])  # "The" ≠ "the"


def test_errors_are_one_line():
    with pytest.raises(PluginError, match="key 'nope' not in the result"):
        build(key="nope").score(SAMPLES, OUTPUTS)
    with pytest.raises(PluginError, match="cannot load metric"):
        EvaluateMetric(EvaluateMetric.Params(path="/nonexistent/metric.py")).score(SAMPLES, OUTPUTS)
