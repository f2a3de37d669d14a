"""A third-party srd plugin used by the test-suite: a grouping by the first word of the reference answer."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from srd_core import hookimpl
from srd_core.components import Grouping


class FirstWordGrouping(Grouping):
    """The group is the first word of the sample's training target (e.g. a label-like answer)."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        lower: bool = Field(True, description="Lower-case the word.")

    def assign(self, samples):
        words = [(s.target.split() or ["<empty>"])[0] for s in samples]
        return [w.lower() for w in words] if self.params.lower else words


@hookimpl
def register_groupings(register):
    register("first_word", FirstWordGrouping)
