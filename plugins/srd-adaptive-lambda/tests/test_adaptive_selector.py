"""The adaptive selector: λ from a knee or from outliers, clipped to bounds, with its reason."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from pydantic import ValidationError
from srd_adaptive_lambda.selector import AdaptiveRatio

from srd_core.errors import PluginError


def noisy_scores(n: int = 1000, noise: float = 0.1, seed: int = 0):
    """Two metrics over clean samples plus a noisy share that is hard on both; RRF-fused (k = 60)."""
    rng = np.random.default_rng(seed)
    noisy = rng.random(n) < noise
    ce = rng.normal(2.0, 0.5, n) + noisy * 2.0
    rouge = np.clip(rng.normal(0.5, 0.2, n) - noisy * 0.4, 0, 1)

    def ranks(values, higher_is_easier):
        order = sorted(range(n), key=lambda i: values[i], reverse=higher_is_easier)
        r = np.empty(n, int)
        r[order] = np.arange(1, n + 1)
        return r

    fused = 1 / (60 + ranks(rouge, True)) + 1 / (60 + ranks(ce, False))
    order = [int(i) for i in np.argsort(-fused, kind="stable")]
    return order, fused.tolist(), {"rouge_l": rouge.tolist(), "cross_entropy": ce.tolist()}, noisy


def build(**params) -> AdaptiveRatio:
    return AdaptiveRatio(AdaptiveRatio.Params(**params))


def test_knee_drops_the_noisy_tail(caplog):
    order, fused, values, noisy = noisy_scores()
    with caplog.at_level(logging.INFO, logger="srd.adaptive_lambda"):
        selection = build(rule="knee").select(order, fused, values)
    lam = selection.info["lambda"]
    assert 0.8 < lam < 0.95
    assert selection.n_keep == round(lam * len(order))
    dropped, kept = noisy[order[selection.n_keep :]], noisy[order[: selection.n_keep]]
    assert dropped.mean() > 0.5 > 0.05 > kept.mean()
    assert selection.info["rule"] == "knee" and "knee of the sorted fused scores" in selection.info["reason"]
    assert f"λ = {lam:.3f}" in caplog.text


def test_mad_rule_counts_ce_outliers():
    order, fused, values, _ = noisy_scores()
    selection = build(rule="mad", k=2.5).select(order, fused, values)
    ce = np.asarray(values["cross_entropy"])
    median = np.median(ce)
    mad = np.median(np.abs(ce - median)) * 1.4826
    assert selection.n_keep == len(ce) - int(np.sum(ce > median + 2.5 * mad))
    assert selection.info["rule"] == "mad" and "cross_entropy" in selection.info["reason"]
    assert selection.info["threshold"] == pytest.approx(median + 2.5 * mad)


def test_mad_rule_low_side_for_higher_is_easier_metrics():
    values = {"rouge_l": [0.80, 0.82, 0.84, 0.86, 0.88, 0.90, 0.92, 0.94, 0.96, 0.0]}
    order = list(range(10))
    selection = build(rule="mad", metric="rouge_l", harder_is_higher=False, k=3, min_ratio=0.1, max_ratio=1.0).select(
        order, [1.0] * 10, values
    )
    assert selection.n_keep == 9


def test_bounds_clip_and_say_so():
    flat = build(rule="knee", max_ratio=0.9).select(list(range(100)), [1.0] * 100, {})
    assert flat.n_keep == 90 and "clipped to max_ratio" in flat.info["reason"]
    assert flat.info["proposed_lambda"] == 1.0
    values = {"cross_entropy": [1.0 + 0.01 * i for i in range(70)] + [100.0 + i for i in range(30)]}
    low = build(rule="mad", min_ratio=0.8).select(list(range(100)), [0.0] * 100, values)
    assert low.info["outliers"] == 30
    assert low.n_keep == 80 and "clipped to min_ratio" in low.info["reason"]


def test_empty_and_errors():
    assert build().select([], [], {}).n_keep == 0
    with pytest.raises(PluginError, match="'cross_entropy' is not among"):
        build(rule="mad").select([0, 1], [1.0, 0.5], {"rouge_l": [0.1, 0.2]})
    with pytest.raises(ValidationError, match="min_ratio"):
        AdaptiveRatio.Params(min_ratio=0.9, max_ratio=0.8)
    with pytest.raises(ValidationError):
        AdaptiveRatio.Params(rule="elbow")
