"""A third-party srd plugin used by the test-suite: a response source that alternates by step."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from srd_core import hookimpl
from srd_core.components import ResponseSource, StepResponses


class EveryNth(ResponseSource):
    """The student's samples on every ``every``-th step (0, every, 2·every, ...), else the ground truth."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        every: int = Field(2, ge=1, description="Generate on steps divisible by this.")
        max_new_tokens: int = Field(5, ge=1, description="Longest generated response.")
        top_k: int = Field(1, ge=0, description="Top-k sampling (1: the most likely token, as greedy).")

    def sampling(self):
        p = self.params
        return {"temperature": 1.0, "top_p": 1.0, "top_k": p.top_k, "max_new_tokens": p.max_new_tokens}

    def choose(self, step, total, ids, generate):
        if step % self.params.every == 0:
            return StepResponses("generated", list(zip(ids, generate(ids), strict=True)))
        return StepResponses("ground_truth")


@hookimpl
def register_response_sources(register):
    register("fixture_every_nth", EveryNth)
