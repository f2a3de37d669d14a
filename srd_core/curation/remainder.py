"""The kept samples a curriculum pacer leaves out of every bin, said in one sentence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def unbinned(kept: int, bin_sizes: Sequence[int]) -> int:
    """Kept samples that no bin holds (Baby Step's ``remainder: drop`` leaves K mod num_bins out)."""
    return max(kept - sum(bin_sizes), 0)


def remainder_notice(
    kept: int, bin_sizes: Sequence[int], pacer_params: dict[str, Any] | None = None, field: str = "curriculum.pacer"
) -> str | None:
    """``3 kept samples beyond 3 × 5 are not trained; `curriculum.pacer.remainder: last` trains them``, or
    None when every kept sample is in a bin."""
    left = unbinned(kept, bin_sizes)
    if not left:
        return None
    sizes = list(bin_sizes)
    shape = f"{len(sizes)} × {sizes[0]}" if sizes and len(set(sizes)) == 1 else " + ".join(map(str, sizes))
    text = f"{left} kept sample{'s' * (left != 1)} beyond {shape} {'are' if left != 1 else 'is'} not trained"
    if (pacer_params or {}).get("remainder") == "drop":
        text += f"; `{field}.remainder: last` trains {'them' if left != 1 else 'it'}"
    return text
