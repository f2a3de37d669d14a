"""The experiment file: a base config, named variants (lists of ``--set`` overrides) and seeds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from srd_core.config import SRDConfig, apply_overrides, config_from_dict, read_yaml
from srd_core.errors import ConfigError, SRDError
from srd_core.registry import format_validation_error

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ExperimentError(SRDError):
    """An experiment cannot go on (a run failed, another `srd experiment` holds the directory)."""


class ExperimentSpec(BaseModel):
    """What ``srd experiment FILE.yaml`` runs."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        None, description="Experiment name; its directory is output_dir/name (default: the file's stem)."
    )
    output_dir: Path = Field(Path("runs/experiments"), description="Parent directory of experiment directories.")
    base: str | dict[str, Any] = Field(
        description="The base config: a path (relative to this file) or the config itself, inline."
    )
    overrides: list[str] = Field(
        default_factory=list, description="`--set`-style overrides applied to the base for every variant."
    )
    variants: dict[str, list[str]] = Field(
        default_factory=lambda: {"default": list[str]()},
        description="Named variants, each a list of `--set`-style overrides (KEY.PATH=VALUE).",
    )
    seeds: list[int] = Field(
        default_factory=lambda: [0, 1, 2], min_length=1, description="Seeds; every (variant, seed) is its own run dir."
    )
    seed_fields: list[str] = Field(
        default_factory=lambda: ["run.seed"],
        min_length=1,
        description="Config fields that take the seed (e.g. also data.train.seed to vary the data).",
    )
    reference: str | None = Field(None, description="Variant the others are compared with (paired over seeds).")
    jobs: int = Field(1, ge=1, description="Runs at a time (subprocesses, each with its share of threads).")
    share: bool = Field(
        True,
        description="Copy prepared models, reflections and the teacher/student evaluations "
        "between runs whose fingerprints match.",
    )

    @field_validator("variants")
    @classmethod
    def _variant_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if not value:
            raise ValueError("give at least one variant")
        for name in value:
            if not NAME_PATTERN.match(name):
                raise ValueError(f"variant name {name!r}: use letters, digits, '_', '-', '.'")
        return value

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("seeds must be unique")
        return value

    @model_validator(mode="after")
    def _reference_exists(self) -> ExperimentSpec:
        if self.reference is not None and self.reference not in self.variants:
            raise ValueError(f"reference {self.reference!r} is not a variant ({', '.join(self.variants)})")
        if self.name is not None and not NAME_PATTERN.match(self.name):
            raise ValueError(f"name {self.name!r}: use letters, digits, '_', '-', '.'")
        return self


@dataclass(frozen=True)
class PlannedRun:
    """One (variant, seed): its run name, raw config and validated config."""

    variant: str
    seed: int
    name: str
    raw: dict[str, Any]
    config: SRDConfig


@dataclass(frozen=True)
class Experiment:
    """A loaded experiment: its spec, directory and every planned run (validated up front)."""

    spec: ExperimentSpec
    source: Path
    directory: Path
    runs: list[PlannedRun]

    @property
    def runs_dir(self) -> Path:
        return self.directory / "runs"


def run_name(variant: str, seed: int) -> str:
    """The run dir name of a (variant, seed)."""
    return f"{variant}-seed{seed}"


def _base_mapping(spec: ExperimentSpec, source: Path) -> dict[str, Any]:
    if isinstance(spec.base, dict):
        return spec.base
    path = Path(spec.base)
    if not path.is_absolute():
        path = source.parent / path
    if not path.is_file():
        raise ConfigError(f"{source}: base: {spec.base} not found (paths are relative to the experiment file)")
    return read_yaml(path)


def _check_owned_fields(spec: ExperimentSpec, source: Path) -> None:
    """Overrides must not set what the experiment sets for each run (its name, its directory, the seed
    fields): the experiment's value would win silently."""
    owned = ["run.name", "run.output_dir", *spec.seed_fields]
    for where, overrides in [("overrides", spec.overrides), *((f"variants.{v}", o) for v, o in spec.variants.items())]:
        for item in overrides:
            key = item.split("=", 1)[0].strip()
            clash = next((f for f in owned if f == key or f.startswith(key + ".")), None)
            if clash is not None:
                what = "seeds (seed_fields)" if clash in spec.seed_fields else "the experiment"
                raise ConfigError(f"{source}: {where}: {key!r} sets {clash}, which {what} sets for each run; remove it")


def plan_runs(spec: ExperimentSpec, source: Path, directory: Path) -> list[PlannedRun]:
    """Every (variant, seed) with its config; an invalid one is a ``ConfigError`` naming file and variant."""
    _check_owned_fields(spec, source)
    base = _base_mapping(spec, source)
    runs = []
    for variant, overrides in spec.variants.items():
        for seed in spec.seeds:
            name = run_name(variant, seed)
            sets = [
                *spec.overrides,
                *overrides,
                *(f"{field}={seed}" for field in spec.seed_fields),
                f"run.name={name}",
                f"run.output_dir={directory / 'runs'}",
            ]
            try:
                raw = apply_overrides(base, sets)
                config = config_from_dict(raw)
            except ConfigError as exc:
                raise ConfigError(f"{source}: variants.{variant} (seed {seed}): {exc}") from None
            runs.append(PlannedRun(variant, seed, name, raw, config))
    return runs


def load_experiment(path: str | Path, jobs: int | None = None) -> Experiment:
    """Read and validate an experiment file and every run it plans."""
    source = Path(path)
    raw = read_yaml(source)
    try:
        spec = ExperimentSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {format_validation_error(exc, model=ExperimentSpec)}") from None
    if jobs is not None:
        spec = spec.model_copy(update={"jobs": jobs})
    directory = spec.output_dir / (spec.name or source.stem)
    return Experiment(spec, source, directory, plan_runs(spec, source, directory))


def dump_run_config(run: PlannedRun) -> str:
    """The run's config file as written under the experiment dir (the raw mapping, overrides applied)."""
    return yaml.safe_dump(run.raw, sort_keys=False, allow_unicode=True)
