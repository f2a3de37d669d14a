"""Which samples each optimizer step trains on: seeded stage shuffles, global batches, rank slices.

The order depends only on the seed, the stage plan and the global batch size, never on the number
of processes: a step's *global* batch (``batch_size × processes × grad_accum`` samples) is cut from
the stage's shuffled epoch order, then split into ``processes × grad_accum`` slots; micro-batch
``a`` of rank ``r`` is slot ``a · processes + r``. One process with batch 2B and two processes with
batch B therefore train on the same samples at every step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from srd_core.components import StagePlan

T = TypeVar("T")


def steps_per_epoch(n_samples: int, global_batch: int) -> int:
    """Optimizer steps of one epoch over ``n_samples`` (the last global batch may be partial)."""
    return math.ceil(n_samples / global_batch)


def stage_steps(plan: StagePlan, global_batch: int) -> int:
    """Optimizer steps of a stage: ``epochs × steps_per_epoch``, a fractional last epoch cut short."""
    per_epoch = steps_per_epoch(len(plan.ids), global_batch)
    if per_epoch == 0 or plan.epochs <= 0:
        return 0
    return max(1, math.ceil(plan.epochs * per_epoch - 1e-6))


def epoch_order(ids: Sequence[str], seed: int, stage: int, epoch: int) -> list[str]:
    """``ids`` shuffled by a generator seeded with (seed, stage, epoch)."""
    rng = np.random.default_rng([seed, stage, epoch])
    return [ids[i] for i in rng.permutation(len(ids))]


@dataclass(frozen=True)
class Position:
    """Where step ``step_in_stage`` of a stage falls: epoch and batch index within the epoch."""

    epoch: int
    batch: int


def position(step_in_stage: int, plan: StagePlan, global_batch: int) -> Position:
    """The epoch and the batch index of a stage's ``step_in_stage``-th step (0-based)."""
    per_epoch = steps_per_epoch(len(plan.ids), global_batch)
    return Position(step_in_stage // per_epoch, step_in_stage % per_epoch)


def global_batch_ids(plan: StagePlan, stage: int, step_in_stage: int, seed: int, global_batch: int) -> list[str]:
    """The sample ids of one optimizer step (all processes, all accumulation micro-batches)."""
    pos = position(step_in_stage, plan, global_batch)
    order = epoch_order(plan.ids, seed, stage, pos.epoch)
    return order[pos.batch * global_batch : (pos.batch + 1) * global_batch]


def rank_micro_batches(batch_ids: Sequence[T], rank: int, world_size: int, grad_accum: int) -> list[list[T]]:
    """The ``grad_accum`` micro-batches of ``rank``: slot ``a · world_size + rank`` of the global batch.

    A partial global batch is spread evenly over the slots; slots left without samples come back
    empty (the caller still runs them, with zero weight, so every rank takes part in each sync).
    """
    slots = world_size * grad_accum
    size = math.ceil(len(batch_ids) / slots)
    return [
        list(batch_ids[(a * world_size + rank) * size : (a * world_size + rank + 1) * size]) for a in range(grad_accum)
    ]
