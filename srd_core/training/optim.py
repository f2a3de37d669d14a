"""AdamW and the learning-rate schedule (linear warmup, then cosine / linear / constant decay)."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from srd_core.config import TrainConfig


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW (fused kernel where available) over the trainable parameters; no decay on biases and norms."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    betas = (cfg.betas[0], cfg.betas[1])  # validated as two values
    try:  # the fused kernel (CPU and GPU) is much faster than the per-tensor loop
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=betas, fused=True)
    except (RuntimeError, ValueError):  # a device or dtype without a fused kernel
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=betas)


def lr_factor(step: int, total: int, warmup: int, kind: str, min_ratio: float) -> float:
    """Multiplier of the peak LR at ``step`` (0-based) of ``total``: warmup, then decay to ``min_ratio``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / (warmup + 1)
    if kind == "constant":
        return 1.0
    decay_steps = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / decay_steps)
    if kind == "linear":
        shape = 1.0 - progress
    elif kind == "cosine":
        shape = 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        raise ValueError(f"unknown lr_scheduler {kind!r}")
    return min_ratio + (1.0 - min_ratio) * shape


def build_lr_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int) -> LambdaLR:
    """The LR schedule over ``total_steps`` optimizer steps (a stage, or the whole run)."""
    warmup = int(cfg.warmup_ratio * total_steps)
    return LambdaLR(optimizer, lambda step: lr_factor(step, total_steps, warmup, cfg.lr_scheduler, cfg.min_lr_ratio))


def reset_optimizer(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> None:
    """Forget AdamW's moments and restore the peak LR: a fresh optimizer on the same parameters."""
    optimizer.state.clear()
    for group in optimizer.param_groups:
        group["lr"] = cfg.lr
        group["initial_lr"] = cfg.lr
