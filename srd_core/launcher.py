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
