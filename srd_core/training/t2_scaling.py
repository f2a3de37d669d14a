"""Whether the KD term is multiplied by T²: always, never, or per loss as the official SRD code does."""

from __future__ import annotations

from typing import Literal

from srd_core.components import KDLoss


def kd_t2_scaling(setting: bool | Literal["official"], kd_loss: KDLoss) -> bool:
    """``train.scale_kd_by_t2`` for ``kd_loss``: a bool as given; ``official`` takes the loss's own flag.

    The official code (``SRD/losses.py``) scales forward KL, skew reverse KL and JSD by T² and leaves
    reverse KL, skew forward KL and TVD unscaled; it has no AKL, so AKL stays unscaled.
    """
    if setting == "official":
        return bool(getattr(kd_loss, "official_t2_scaling", False))
    return bool(setting)
