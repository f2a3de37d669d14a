"""Data order of training: seeded shuffles, step counts, global batches split over ranks and micro-batches."""

from __future__ import annotations

from itertools import chain

import pytest

from srd_core.components import StagePlan
from srd_core.training.batches import (
    epoch_order,
    global_batch_ids,
    position,
    rank_micro_batches,
    stage_steps,
    steps_per_epoch,
)

IDS = [f"s{i}" for i in range(10)]


def test_epoch_order_is_a_seeded_permutation():
    order = epoch_order(IDS, seed=0, stage=1, epoch=2)
    assert sorted(order) == sorted(IDS) and order == epoch_order(IDS, 0, 1, 2)
    others = {tuple(epoch_order(IDS, *key)) for key in [(1, 1, 2), (0, 0, 2), (0, 1, 3)]}
    assert tuple(order) not in others


@pytest.mark.parametrize(("epochs", "expected"), [(1.0, 3), (2.0, 6), (1.5, 5), (0.3, 1), (1 / 3, 1)])
def test_stage_steps_cut_a_fractional_last_epoch(epochs, expected):
    assert steps_per_epoch(10, 4) == 3
    assert stage_steps(StagePlan(IDS, epochs), global_batch=4) == expected


def test_empty_stage_has_no_steps():
    assert stage_steps(StagePlan([], 1.0), 4) == 0


def test_positions_walk_through_epochs():
    plan = StagePlan(IDS, 2.0)
    assert [(position(k, plan, 4).epoch, position(k, plan, 4).batch) for k in range(6)] == [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 1),
        (1, 2),
    ]
    batches = [global_batch_ids(plan, 0, k, seed=0, global_batch=4) for k in range(3)]
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(chain.from_iterable(batches)) == sorted(IDS)  # one epoch covers every sample once


@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("accum", [1, 2])
@pytest.mark.parametrize("size", [12, 7, 1])
def test_slots_partition_the_global_batch_for_any_process_count(world, accum, size):
    batch = [f"x{i}" for i in range(size)]
    slots = {}
    for rank in range(world):
        for a, ids in enumerate(rank_micro_batches(batch, rank, world, accum)):
            slots[a * world + rank] = ids
    assert list(chain.from_iterable(slots[k] for k in sorted(slots))) == batch
    if size == world * accum * 2:  # a full batch: every micro-batch holds batch_size samples
        assert {len(ids) for ids in slots.values()} == {2}


def test_one_process_with_batch_2b_sees_what_two_processes_with_batch_b_see():
    plan = StagePlan(IDS, 1.0)
    for step in range(3):
        batch = global_batch_ids(plan, 0, step, seed=3, global_batch=4)
        single = rank_micro_batches(batch, 0, 1, 1)[0]
        double = rank_micro_batches(batch, 0, 2, 1)[0] + rank_micro_batches(batch, 1, 2, 1)[0]
        assert single == double == batch
