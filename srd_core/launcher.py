"""What a distributed launcher (torchrun, ``accelerate launch``) tells this process through its environment."""

from __future__ import annotations

import os


def world_size() -> int:
    """The number of processes of this run: ``WORLD_SIZE`` under a launcher, else 1 (also when it is unset, empty,
    not an integer or below 1)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def drop_malformed_world_size() -> None:
    """Remove a set ``WORLD_SIZE`` that ``world_size`` reads as one process (empty, not an integer, below 1):
    accelerate parses it on its own and fails on it. Called before an ``Accelerator`` is made."""
    value = os.environ.get("WORLD_SIZE")
    if value is not None and world_size() == 1 and value.strip() != "1":
        del os.environ["WORLD_SIZE"]
