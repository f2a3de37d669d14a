"""The arms a run trains, resolved from the config: each arm's pacer, schedules, teacher signal and curation.

Without an ``arms`` section a run trains the two arms srd has always trained, read from the sections
they have always been read from: ``srd`` (``curriculum.pacer``, ``train.temperature``,
``train.sft_weight``, ``train.teacher_signal``) and, unless ``baseline.enabled`` is false, ``baseline``
(the ``baseline`` section; ``baseline.match_srd_steps`` matches SRD's step count). With ``arms``, each
entry starts from ``like`` (another arm, or the template ``srd`` / ``baseline``) and changes what it
sets. An arm whose effective curriculum (the ``curriculum`` section, the arm's ``curriculum``
overrides, its pacer) differs from the ``curriculum`` section is curated on its own, into
``curation-<arm>/`` (arms with equal curricula share one); the others read ``curation.jsonl``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srd_core.config import ARM_TEMPLATES, ArmConfig, ComponentSpec, CurriculumConfig, SRDConfig, config_from_dict
from srd_core.errors import ConfigError
from srd_core.plugins import get_component
from srd_core.rundir import CURATION_FILE

SRD_TEMPLATE_FIELDS = ("train.temperature", "train.sft_weight", "curriculum.pacer")
"""Config fields an arm built on the ``srd`` template reads besides the shared train fields."""
BASELINE_TEMPLATE_FIELDS = ("baseline",)


@dataclass(frozen=True)
class Arm:
    """One training arm, every setting resolved."""

    name: str
    pacer: ComponentSpec
    temperature: ComponentSpec
    sft_weight: ComponentSpec
    teacher_signal: ComponentSpec
    teacher_signal_field: str
    """The config field its teacher signal comes from (error messages)."""
    curriculum: CurriculumConfig
    """The curriculum its curation is computed with (its pacer included)."""
    curation: str | None
    """``None``: the run's ``curation.jsonl``; else the arm whose ``curation-<name>/`` it reads."""
    match_steps_of: str | None
    section: str
    """Where its schedules are configured (error messages): train, baseline, arms.<name>."""
    sources: tuple[str, ...]
    """Config fields its own settings are read from (besides the shared train fields): provenance."""
    template: str
    """The template its ``like`` chain ends at: srd or baseline."""

    @property
    def phase(self) -> str:
        """Its training phase: ``train_<name>``."""
        return f"train_{self.name}"

    @property
    def curated(self) -> bool:
        """Whether it trains on a curation (an SRD-like arm) rather than on all the data (a reference arm)."""
        return uses_curation(self.pacer)


def _legacy(config: SRDConfig) -> dict[str, Arm]:
    b = config.baseline
    arms = {
        "srd": Arm(
            "srd",
            config.curriculum.pacer,
            config.train.temperature,
            config.train.sft_weight,
            config.train.teacher_signal,
            "train.teacher_signal",
            config.curriculum,
            None,
            None,
            "train",
            SRD_TEMPLATE_FIELDS,
            "srd",
        )
    }
    if b.enabled:
        matched = "srd" if b.match_srd_steps else None
        arms["baseline"] = Arm(
            "baseline",
            b.pacer,
            b.temperature,
            b.sft_weight,
            b.teacher_signal,
            "baseline.teacher_signal",
            config.curriculum,
            None,
            matched,
            "baseline",
            BASELINE_TEMPLATE_FIELDS + (("curriculum.pacer",) if matched else ()),
            "baseline",
        )
    return arms


def uses_curation(pacer: ComponentSpec) -> bool:
    """Whether a pacer trains on a curation (Baby Step) or plans from all the data itself (``all``)."""
    return bool(get_component("pacer", pacer.name, **pacer.params).uses_curation)


def _template(config: SRDConfig, name: str) -> dict[str, Any]:
    if name == "baseline":
        b = config.baseline
        return {
            "pacer": b.pacer,
            "temperature": b.temperature,
            "sft_weight": b.sft_weight,
            "teacher_signal": b.teacher_signal,
            "teacher_signal_field": "baseline.teacher_signal",
            "match_steps_of": None,
            "curriculum": {},
            "sources": BASELINE_TEMPLATE_FIELDS,
            "template": "baseline",
        }
    return {
        "pacer": config.curriculum.pacer,
        "temperature": config.train.temperature,
        "sft_weight": config.train.sft_weight,
        "teacher_signal": config.train.teacher_signal,
        "teacher_signal_field": "train.teacher_signal",
        "match_steps_of": None,
        "curriculum": {},
        "sources": SRD_TEMPLATE_FIELDS,
        "template": "srd",
    }


def _settings(config: SRDConfig, arms: dict[str, ArmConfig], name: str) -> dict[str, Any]:
    """The merged settings of arm ``name``: its ``like`` chain's, then its own."""
    arm = arms[name]
    if arm.like is None:  # the template named like the arm, else srd's (never another arm: nothing implicit)
        base = _template(config, name if name in ARM_TEMPLATES else "srd")
    elif arm.like in arms and arm.like != name:
        base = _settings(config, arms, arm.like)
    else:
        base = _template(config, arm.like)
    out = dict(base, curriculum=dict(base["curriculum"]), sources=(*base["sources"], f"arms.{name}"))
    for role in ("pacer", "temperature", "sft_weight", "teacher_signal", "match_steps_of"):
        value = getattr(arm, role)
        if value is not None:
            out[role] = value
    if arm.teacher_signal is not None:
        out["teacher_signal_field"] = f"arms.{name}.teacher_signal"
    out["curriculum"].update(arm.curriculum)
    return out


def _from_arms(config: SRDConfig, arms: dict[str, ArmConfig]) -> dict[str, Arm]:
    if config.baseline.match_srd_steps:  # the list decides each arm's steps: this flag would be silently ignored
        raise ConfigError(
            "baseline.match_srd_steps: with an `arms` section, give the arm that should train SRD's "
            "step count `match_steps_of: srd` instead"
        )
    base_curriculum = config.curriculum.model_dump(mode="json")
    resolved: dict[str, Arm] = {}
    owners: dict[str, str] = {}  # effective curriculum → the first arm curated with it
    for name in arms:
        s = _settings(config, arms, name)
        curriculum = CurriculumConfig.model_validate({**base_curriculum, **s["curriculum"], "pacer": s["pacer"]})
        if uses_curation(s["pacer"]) and (s["curriculum"] or s["pacer"] != config.curriculum.pacer):
            key = curriculum.model_dump_json()
            curation = None if curriculum == config.curriculum else owners.setdefault(key, name)
        else:
            curriculum, curation = config.curriculum, None
        sources = s["sources"] + (("curriculum",) if curation is not None else ())
        resolved[name] = Arm(
            name,
            s["pacer"],
            s["temperature"],
            s["sft_weight"],
            s["teacher_signal"],
            s["teacher_signal_field"],
            curriculum,
            curation,
            s["match_steps_of"],
            f"arms.{name}",
            sources,
            s["template"],
        )
    for arm in resolved.values():
        target = arm.match_steps_of
        if target is not None and resolved[target].match_steps_of is not None:
            raise ConfigError(
                f"arms.{arm.name}.match_steps_of: {target!r} matches another arm's steps itself; "
                "name the arm whose pacer sets the step count"
            )
        if target is not None and target == arm.name:
            raise ConfigError(f"arms.{arm.name}.match_steps_of: an arm cannot match its own steps")
    return resolved


def resolve_arms(config: SRDConfig) -> dict[str, Arm]:
    """Every arm of the run, in training order."""
    return _legacy(config) if config.arms is None else _from_arms(config, config.arms)


def arm_of(config: SRDConfig, name: str) -> Arm:
    """Arm ``name`` of the run; an unknown name is a ``ConfigError`` listing the arms."""
    arms = resolve_arms(config)
    if name not in arms:
        raise ConfigError(f"no arm named {name!r} in this run (its arms: {', '.join(arms)})")
    return arms[name]


def arm_names(config: SRDConfig) -> list[str]:
    """The names of the run's arms, in training order."""
    return list(resolve_arms(config))


def curation_dir(run_dir: Path, arm: Arm) -> Path:
    """The directory whose curation.jsonl the arm reads: the run dir, or ``curation-<owner>/``."""
    return Path(run_dir) if arm.curation is None else Path(run_dir) / curation_dir_name(arm.curation)


def curation_dir_name(owner: str) -> str:
    """The run-dir-relative folder of the curation owned by arm ``owner``."""
    return f"curation-{owner}"


def curate_phase(arm: Arm) -> str:
    """The phase that computes the arm's curation: ``curate`` or ``curate_<owner>``."""
    return "curate" if arm.curation is None else f"curate_{arm.curation}"


def config_for_curation(config: SRDConfig, arm: Arm) -> SRDConfig:
    """``config`` with the arm's curriculum: what ``run_curation`` computes the arm's curation from."""
    return config if arm.curriculum is config.curriculum else config.model_copy(update={"curriculum": arm.curriculum})


@dataclass(frozen=True)
class CurationView:
    """One curation of a run as the curated arms that train on it see it (reports, experiments)."""

    owner: str | None
    """``None``: the run's ``curation.jsonl``; else the arm whose ``curation-<owner>/`` it is."""
    arms: tuple[str, ...]
    """The curated arms that train on it."""
    path: Path
    config: dict[str, Any] | None
    """The run's config with ``curriculum`` as these arms curate (their pacer included) and ``baseline`` as the
    reference arm they are compared with (its pacer; ``match_srd_steps`` when it matches an arm's steps), so the
    diagnostics computed from a config (training passes per group, the remainder notice) read this arm's."""


def _reference(arms: dict[str, Arm], curated: set[str]) -> Arm | None:
    references = [a for a in arms.values() if a.name not in curated]
    return next((a for a in references if a.name == "baseline"), references[0] if references else None)


def curation_views(run_dir: Path, raw_config: dict[str, Any] | None) -> list[CurationView]:
    """Every curation of the run with the curated arms that train on it: ``curation.jsonl`` first, then each
    ``curation-<arm>/``. From the run's resolved config (``config.yaml``); a config that does not resolve
    (an older run, a plugin not installed here) gives the curation files found, each with the run's config."""
    run_dir = Path(run_dir)
    try:
        arms = resolve_arms(config_from_dict(dict(raw_config or {})))
        curated = {name for name, arm in arms.items() if uses_curation(arm.pacer)}
    except Exception:  # a view for the report: any failure to resolve falls back to the files
        found = run_dir.glob(f"{curation_dir_name('*')}/{CURATION_FILE}")
        extra = sorted(p.parent.name[len(curation_dir_name("")) :] for p in found)
        return [
            CurationView(None, (), run_dir / CURATION_FILE, raw_config),
            *(CurationView(o, (o,), run_dir / curation_dir_name(o) / CURATION_FILE, raw_config) for o in extra),
        ]
    reference = _reference(arms, curated)
    views: dict[str | None, list[Arm]] = {None: []}
    for name in arms:
        if name in curated:
            views.setdefault(arms[name].curation, []).append(arms[name])
    out = []
    for owner, members in views.items():
        config = dict(raw_config or {})
        if members:
            first = members[0]
            config["curriculum"] = {
                **first.curriculum.model_dump(mode="json"),
                "pacer": first.pacer.model_dump(mode="json"),
            }
        if reference is not None:
            config["baseline"] = {
                **(config.get("baseline") or {}),
                "pacer": reference.pacer.model_dump(mode="json"),
                "match_srd_steps": reference.match_steps_of is not None,
            }
        path = curation_dir(run_dir, members[0]) if owner is not None else run_dir
        out.append(CurationView(owner, tuple(a.name for a in members), path / CURATION_FILE, config))
    return out
