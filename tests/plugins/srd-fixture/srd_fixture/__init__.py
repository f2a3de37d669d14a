"""A third-party srd plugin used by the test-suite: one fusion and one CLI command."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import click
from pydantic import BaseModel, ConfigDict, Field

from srd_core import hookimpl
from srd_core.components import Fusion


class MinRankFusion(Fusion):
    """Score = -(best rank over metrics): a sample is as easy as its easiest metric says."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        offset: int = Field(0, ge=0, description="Added to every rank before taking the minimum.")

    def fuse(self, ranks: Mapping[str, Sequence[int]]) -> list[float]:
        columns = list(ranks.values())
        return [-float(min(col[i] for col in columns) + self.params.offset) for i in range(len(columns[0]))]


@hookimpl
def register_fusions(register):
    register("fixture_min_rank", MinRankFusion)


@hookimpl
def register_commands(cli):
    @cli.command("fixture-hello")
    @click.argument("who", default="world")
    def fixture_hello(who: str) -> None:
        """Say hello (proves register_commands works from a third-party distribution)."""
        click.echo(f"hello {who} from srd-fixture")
