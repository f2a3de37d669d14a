"""A run's wall time: arms trained at once count once, for as long as they took together."""

from __future__ import annotations

from srd_core.timings import phase_seconds, wall_total


def test_sequential_phases_add_up():
    assert wall_total({"reflect": 2.0, "train_srd": 10.0, "train_baseline": 12.0}) == (24.0, 1)


def test_arms_trained_at_once_count_for_their_batch_not_their_sum():
    timings = {
        "reflect": 2.0,
        "train_srd": 10.0,
        "train_baseline": 12.0,
        "train_kd": 11.0,
        "evaluate": 1.0,
        "parallel": {"phases": ["train_srd", "train_baseline", "train_kd"], "seconds": 12.5},
    }
    assert wall_total(timings) == (2.0 + 12.5 + 1.0, 3)
    assert phase_seconds(timings) == {
        "reflect": 2.0,
        "train_srd": 10.0,
        "train_baseline": 12.0,
        "train_kd": 11.0,
        "evaluate": 1.0,
    }


def test_an_older_parallel_run_counts_its_longest_arm():
    timings = {"reflect": 2.0, "train_srd": 10.0, "train_baseline": 12.0}
    assert wall_total(timings, parallel_arms=True) == (14.0, 2)


def test_a_record_naming_one_retrained_arm_is_not_a_batch():
    timings = {"train_srd": 10.0, "train_baseline": 12.0, "parallel": {"phases": ["train_srd"], "seconds": 10.0}}
    assert wall_total(timings) == (22.0, 1)
