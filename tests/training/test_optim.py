"""AdamW groups, the warmup + decay LR factor, and the per-stage optimizer reset."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_llama

from srd_core.config import TrainConfig
from srd_core.training.optim import build_lr_scheduler, build_optimizer, lr_factor, reset_optimizer


def test_lr_factor_warms_up_then_decays_to_the_floor():
    assert [lr_factor(s, 10, 3, "cosine", 0.0) for s in range(3)] == pytest.approx([0.25, 0.5, 0.75])
    assert lr_factor(3, 10, 3, "cosine", 0.0) == 1.0
    assert lr_factor(10, 10, 3, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_factor(5, 10, 0, "linear", 0.0) == pytest.approx(0.5)
    assert lr_factor(5, 10, 0, "cosine", 0.2) == pytest.approx(0.6)
    assert lr_factor(9, 10, 0, "constant", 0.0) == 1.0
    factors = [lr_factor(s, 20, 0, "cosine", 0.0) for s in range(20)]
    assert factors == sorted(factors, reverse=True)


def test_no_weight_decay_on_norms_and_biases():
    model = tiny_llama(32, 16, 1, 2)
    optimizer = build_optimizer(model, TrainConfig(weight_decay=0.1))
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decayed["params"]) and all(p.ndim == 1 for p in plain["params"])


def test_reset_forgets_the_moments_and_restores_the_peak_lr():
    model = tiny_llama(32, 16, 1, 2)
    cfg = TrainConfig(lr=1e-3)
    optimizer = build_optimizer(model, cfg)
    scheduler = build_lr_scheduler(optimizer, cfg, total_steps=4)
    for _ in range(3):
        model(input_ids=torch.arange(6)[None], labels=torch.arange(6)[None]).loss.backward()
        optimizer.step()
        scheduler.step()
    assert optimizer.state and optimizer.param_groups[0]["lr"] < 1e-3
    reset_optimizer(optimizer, cfg)
    assert not optimizer.state and optimizer.param_groups[0]["lr"] == 1e-3
    build_lr_scheduler(optimizer, cfg, total_steps=2)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
