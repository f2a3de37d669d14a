"""The ``rereflect`` pacer: Baby Step whose later stages are re-ranked as the student learns."""

from __future__ import annotations

from pydantic import Field

from srd_core.api import BabyStep, BabyStepParams


class ReReflectParams(BabyStepParams):
    """Baby Step's parameters, plus when re-reflection starts."""

    from_stage: int = Field(1, ge=1, description="First stage (0-based) whose start re-scores the unseen samples.")


class ReReflect(BabyStep):
    """Baby Step with a dynamic ranking: at each stage start the unseen samples are re-scored and re-ranked."""

    Params = ReReflectParams
    params: ReReflectParams
