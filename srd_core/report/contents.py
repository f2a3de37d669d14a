"""What a report holds: its figure specs, and the built report (summary, verdict, figures)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from matplotlib.figure import Figure

from srd_core.report.data import RunArtifacts
from srd_core.report.summary import Summary, Verdict


@dataclass
class PlotSpec:
    """One figure of the report: file stem, heading, caption, builder, and why it may be missing."""

    name: str
    heading: str
    caption: str
    build: Callable[[RunArtifacts], Figure | None]
    missing: str


@dataclass
class Report:
    """A built report: the inputs, the computed summary and verdict, and the figures (``None`` = missing)."""

    run: RunArtifacts
    summary: Summary
    verdict: Verdict
    figures: dict[str, Figure | None]
    specs: list[PlotSpec]
    warnings: list[str] = field(default_factory=list)
    """What the user needs to know about the run (``srd_core.report.warnings``)."""
