"""Built-in schedules for temperature and SFT weight: pure functions of (step, total, stage)."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

from srd_core.components import Schedule
from srd_core.hookspecs import hookimpl


def progress(step: int, total: int) -> float:
    """Share of training done at 0-based ``step`` of ``total``: 0 at the first step, 1 at the last."""
    if total <= 1:
        return 0.0
    return min(max(step / (total - 1), 0.0), 1.0)


def interpolate(start: float, end: float, fraction: float) -> float:
    """``start`` at fraction 0, exactly ``end`` at fraction 1, monotone in between."""
    if fraction >= 1.0:
        return end
    return start + (end - start) * fraction


class ConstantParams(BaseModel):
    """Parameters of the constant schedule."""

    model_config = ConfigDict(extra="forbid")

    value: float = Field(description="The value at every step.")


class Constant(Schedule):
    """The same value throughout training (the baseline's T and SFT weight)."""

    Params = ConstantParams
    params: ConstantParams

    def value(self, step: int, total: int, stage: int) -> float:
        return self.params.value


class StagewiseParams(BaseModel):
    """Parameters of the stagewise schedule: a value per stage, or the first and last stage's values."""

    model_config = ConfigDict(extra="forbid")

    values: list[float] | None = Field(
        None, min_length=1, description="One value per training stage (official SRD GPT-2 scripts: T = 1, 1.5, 2)."
    )
    start: float | None = Field(
        None,
        description="Value of the first stage; with `end`, the stages in between "
        "are spaced evenly (as many values as the pacer plans stages).",
    )
    end: float | None = Field(None, description="Value of the last stage (with `start`).")

    @model_validator(mode="after")
    def _one_form(self) -> StagewiseParams:
        ends = (self.start is not None) + (self.end is not None)
        if self.values is not None and ends:
            raise ValueError("give either `values` or `start` and `end`, not both")
        if self.values is None and ends != 2:
            raise ValueError("give `values` (one per stage) or both `start` and `end`")
        return self


def spaced(start: float, end: float, count: int) -> list[float]:
    """``count`` evenly spaced values from ``start`` to ``end`` (``[start]`` for one), rounded to 10 places
    so that 0.3 → 0.1 over 3 stages reads 0.3, 0.2, 0.1."""
    if count == 1:
        return [start]
    return [round(interpolate(start, end, i / (count - 1)), 10) for i in range(count)]


class Stagewise(Schedule):
    """A constant value within each stage, one per stage: the paper-faithful schedule."""

    Params = StagewiseParams
    params: StagewiseParams
    per_stage = True

    def value(self, step: int, total: int, stage: int) -> float:
        values = self.params.values
        if values is None:
            raise ValueError("stagewise schedule given as start/end was not spread over the stages")
        if not 0 <= stage < len(values):
            raise ValueError(f"stagewise schedule has {len(values)} values, asked for stage {stage} (0-based)")
        return values[stage]

    def check_stages(self, num_stages: int) -> None:
        if self.params.values is None:
            raise ValueError("stagewise start/end needs a pacer that plans a fixed number of stages; give `values`")
        if len(self.params.values) != num_stages:
            raise ValueError(f"stagewise schedule has {len(self.params.values)} values for {num_stages} stages")

    def for_stages(self, num_stages: int) -> dict | None:
        if self.params.values is not None:  # as written (without the unset start / end)
            return {"values": list(self.params.values)}
        start, end = self.params.start, self.params.end
        assert start is not None and end is not None  # the params' validator: values, or start and end
        return {"values": spaced(start, end, num_stages)}


class RampParams(BaseModel):
    """Parameters of the per-step ramps."""

    model_config = ConfigDict(extra="forbid")

    start: float = Field(description="Value at the first optimizer step.")
    end: float = Field(description="Value at the last optimizer step.")


class Linear(Schedule):
    """A straight line from ``start`` (first step) to ``end`` (last step) over all of training."""

    Params = RampParams
    params: RampParams

    def value(self, step: int, total: int, stage: int) -> float:
        return interpolate(self.params.start, self.params.end, progress(step, total))


class Cosine(Schedule):
    """A half cosine from ``start`` (first step) to ``end`` (last step): flat at both ends."""

    Params = RampParams
    params: RampParams

    def value(self, step: int, total: int, stage: int) -> float:
        fraction = progress(step, total)
        return interpolate(self.params.start, self.params.end, (1.0 - math.cos(math.pi * fraction)) / 2.0)


@hookimpl
def register_schedules(register):
    """Register the built-in schedules."""
    register("constant", Constant)
    register("stagewise", Stagewise)
    register("linear", Linear)
    register("cosine", Cosine)
