"""The dependency rule: every phase declares what it reads; its artifact is complete only while that holds.

Each ``Phase`` names the config fields it reads (dotted paths, compared leaf by leaf), the phases
that must be complete before it (``after``), the files and model directories whose *content* it
reads (data files, models, upstream artifacts such as curation.jsonl) and values derived from
upstream artifacts (the baseline reads SRD's step count, not the whole curation). Those inputs are
recorded in ``provenance/<phase>.json`` with their fingerprint, once when the phase starts and
again when it completes. A phase is

* ``complete`` when its record says complete, its fingerprint equals the current one and its
  artifacts are on disk;
* ``stale`` when the fingerprints differ (the reason names the first differing input, old → new),
  or when artifacts are there with no record of what they were made from;
* ``todo`` when nothing was done yet, or an attempt with the same inputs stopped midway (the phase
  then resumes from its own partial files);
* ``pending`` while a phase in ``after`` is not complete (decided once that one is);
* ``off`` when the config does not use it (no preset to prepare, baseline disabled, ...).

A stale phase's artifacts are moved to ``.stale/<phase>/`` (the last one is kept) before it is
recomputed, so nothing is destroyed silently and a mistaken edit costs a ``mv``, not a retraining.
Each ``Phase`` also says what runs it (``work``) and what describes it (``describe``, its rows in
`srd run --dry-run`). ``TABLE`` is the one list of phases, each row with the `srd` command that runs its phases
alone (``srd_core.pipeline.commands``): `srd run` (``pipeline/run.py``), the dry run, the status of a run dir
(``pipeline/planner.py``), the upstream checks and the CLI's single-phase commands (``pipeline/single_phase.py``)
all read it. Adding a phase is one row in ``TABLE`` plus its work function (``pipeline/work.py``), and a
``Command`` when it gets a command of its own; a row gives the phases of a config (one ``train_<arm>`` and one
``evaluate_<arm>`` per arm of ``srd_core.arms``, one ``curate_<arm>`` per arm curated on its own).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from srd_core.arms import (
    Arm,
    arm_of,
    curate_phase,
    curation_dir,
    curation_dir_name,
    resolve_arms,
    uses_curation,
)
from srd_core.config import (
    ComponentSpec,
    CurriculumConfig,
    EvalConfig,
    ReflectionConfig,
    SelectBestConfig,
    SRDConfig,
    TrainConfig,
)
from srd_core.curation.curate import forms_groups, load_curation
from srd_core.io import read_jsonl
from srd_core.launcher import world_size
from srd_core.models.lengths import derived_max_new_tokens
from srd_core.pipeline import commands, work
from srd_core.pipeline.commands import Command
from srd_core.pipeline.describe import (
    PlanView,
    Rows,
    describe_curate,
    describe_curate_arm,
    describe_evaluate,
    describe_prepare,
    describe_reflect,
    describe_report,
    describe_teacher_cache,
    describe_train,
)
from srd_core.pipeline.work import RunContext  # by name: a Phase field is called `work`
from srd_core.plugins import get_component
from srd_core.rundir import (
    CURATION_FILE,
    CURATION_META_FILE,
    EVAL_FILE,
    FINAL_DIR,
    METRICS_FILE,
    PLOTS_DIR,
    PREPARE_MANIFEST_FILE,
    PREPARED_DIR,
    REFLECTION_FILE,
    REFLECTION_META_FILE,
    REFLECTION_PARTIAL_GLOB,
    REPORT_FILE,
    SAMPLES_META_FILE,
    SUMMARY_FILE,
    TEACHER_CACHE_DIR,
    prepared_dir,
)
from srd_core.training.cadence import CADENCE_FIELDS

# ------------------------------------------------------------------------------------------ inputs

DATA_TRAIN = (
    "data.train",
    "data.limit_train",
    "data.max_prompt_tokens",
    "data.max_length",
    "data.on_bad_sample",
    "data.max_record_bytes",
)
DATA_EVAL = (
    "data.eval",
    "data.train",
    "data.limit_eval",
    "data.max_prompt_tokens",
    "data.on_bad_sample",
    "data.max_record_bytes",
)
EVAL_FIELDS = tuple(f"eval.{n}" for n in EvalConfig.model_fields if n != "sets")
"""eval.* fields the final evaluation reads (``eval.sets`` belongs to `srd evaluate-sets`)."""
TRAIN_LOOSE = frozenset(CADENCE_FIELDS)
"""train.* fields that change when logs, evaluations and checkpoints are written, not the trained model."""
SRD_ONLY = ("temperature", "sft_weight")
TRAIN_SHARED = tuple(
    f"train.{n}" for n in TrainConfig.model_fields if n not in TRAIN_LOOSE and n not in SRD_ONLY and n != "select_best"
)
"""train.* fields both labels read (the baseline takes its schedules from ``baseline.*``; select_best apart)."""
SELECT_BEST_EVAL = ("eval.max_new_tokens", "eval.batch_size")
"""eval.* fields the dev evaluations of ``train.select_best`` read."""


def _select_best_fields(config: SRDConfig) -> tuple[str, ...]:
    """``train.select_best`` and what its dev evaluations read; only ``enabled`` while it is off."""
    if not config.train.select_best.enabled:
        return ("train.select_best.enabled",)
    return ("train.select_best", "data.dev", "data.eval", "data.limit_eval", *SELECT_BEST_EVAL)


def _never_inputs(config: SRDConfig) -> tuple[str, ...]:
    """Config paths no phase reads as an input (a record made when they were is not stale for them)."""
    loose = tuple(f"train.{n}" for n in sorted(TRAIN_LOOSE))
    if not config.train.select_best.enabled:
        loose += tuple(f"train.select_best.{n}" for n in SelectBestConfig.model_fields if n != "enabled")
    return loose


def _without_never_inputs(recorded: dict[str, Any], current: dict[str, Any], config: SRDConfig) -> dict[str, Any]:
    """``recorded`` less the fields an older srd recorded although they cannot change the artifact."""
    loose = _never_inputs(config)
    return {
        k: v for k, v in recorded.items() if k in current or not any(k == p or k.startswith(f"{p}.") for p in loose)
    }


STUDENT_LOAD = ("student.path", "student.preset", "student.revision", "student.dtype", "student.trust_remote_code")

# ------------------------------------------------------------------------------------------ code
# srd_core source files (globs under srd_core/) that compute each phase's artifact; the components a phase runs
# count on their own (pipeline/code.py). Not listed: the CLI, the pipeline and the report's own code (for the
# report phase only), which decide what runs and what is shown, not what an artifact holds.

MODEL_IO = ("models/loading.py", "models/runtime.py", "models/hub.py")
PREPARE_CODE = ("data/*.py", "models/prepare.py", "models/lm_corpus.py", "models/presets.py", *MODEL_IO)
REFLECT_CODE = (
    "reflection/*.py",
    "data/*.py",
    "models/generation.py",
    "models/lengths.py",
    "models/flops.py",
    *MODEL_IO,
)  # the new-token limit from the data; the pass's FLOPs in reflection.meta.json
CURATE_CODE = ("curation/*.py", "data/*.py", *MODEL_IO)  # samples, and the student for metrics that need it
TRAIN_CODE = (
    "training/*.py",
    "data/*.py",
    "curation/curate.py",
    "curation/ranking.py",
    "curation/strata.py",
    "curation/remainder.py",
    "models/generation.py",
    "models/lengths.py",
    "models/flops.py",
    *MODEL_IO,
)  # curation's modules that plan the stages from curation.jsonl; generated responses; FLOPs
DEV_EVAL_CODE = ("evaluation/*.py", "models/generation.py")
"""What the dev evaluations of ``train.select_best`` run (an input of training only while it is on)."""
EVAL_CODE = ("evaluation/*.py", "data/*.py", "models/generation.py", "models/lengths.py", *MODEL_IO)
REPORT_CODE = (
    "report/*.py",
    "curation/diagnostics.py",
    "curation/strata.py",
    "curation/remainder.py",
    "models/flops.py",
    "evaluation/curves.py",
)  # per-group tables, remainder notice, FLOPs; eval curves


def _spec_files(spec: ComponentSpec | None, where: str, run_dir: Path) -> dict[str, Path]:
    """Existing files or directories named by a component's params (a task's data files).

    A directory that holds the run dir (``"."``, say) is no data input: it would hash the run itself.
    """
    found: dict[str, Path] = {}
    if spec is None:
        return found
    for key, value in spec.params.items():
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if not isinstance(item, str) or not item or "\n" in item:
                continue
            try:
                exists = Path(item).exists()
            except OSError:  # a long template string is no path
                exists = False
            if exists and Path(item).is_dir() and Path(run_dir).resolve().is_relative_to(Path(item).resolve()):
                continue
            if exists:
                found[f"data file {where}.{key}{f'.{i}' if isinstance(value, list) else ''}"] = Path(item)
    return found


def _model_dir(config: SRDConfig, run_dir: Path, role: str) -> dict[str, Path]:
    """The model directory of ``role`` (its prepared preset, or a local ``path``; a hub id has none)."""
    cfg = getattr(config, role)
    if cfg.path is None:
        return {f"{role} model": prepared_dir(run_dir, role)}
    found = {f"{role} model": Path(cfg.path)} if Path(cfg.path).is_dir() else {}
    if cfg.adapter and Path(cfg.adapter).is_dir():
        found[f"{role} adapter"] = Path(cfg.adapter)
    return found


def _train_data(config: SRDConfig, run_dir: Path) -> dict[str, Path]:
    return _spec_files(config.data.train, "data.train", run_dir)


def _eval_data(config: SRDConfig, run_dir: Path) -> dict[str, Path]:
    return {
        **_spec_files(config.data.eval, "data.eval", run_dir),
        **_spec_files(config.data.train, "data.train", run_dir),
    }


def _uses_curation(spec: ComponentSpec) -> bool:
    return uses_curation(spec)


def _curation_file(run_dir: Path, arm: Arm) -> tuple[str, Path]:
    """(input label, path) of the curation.jsonl the arm reads."""
    if arm.curation is None:
        return CURATION_FILE, Path(run_dir) / CURATION_FILE
    name = f"{curation_dir_name(arm.curation)}/{CURATION_FILE}"
    return name, Path(run_dir) / name


def _matched_steps(config: SRDConfig, run_dir: Path, name: str) -> dict[str, Any]:
    """The step count of the arm that arm ``name`` matches (``match_steps_of``), when a curation decides it."""
    from srd_core.training.stages import global_batch_size, pacer_stages, stage_steps  # deferred: numpy

    arm = arm_of(config, name)
    if arm.match_steps_of is None:
        return {}
    target = arm_of(config, arm.match_steps_of)
    if not _uses_curation(target.pacer):
        return {}  # the config fields of its pacer decide it
    directory = curation_dir(run_dir, target)
    records = load_curation(directory)
    stages = pacer_stages(config, run_dir, target.pacer, [r.id for r in records], directory)
    processes = world_size()
    batch = global_batch_size(config, processes)
    label = "SRD's optimizer steps" if config.arms is None else f"{target.name}'s optimizer steps"
    return {label: sum(stage_steps(p, batch) for p in stages)}


# ------------------------------------------------------------------------------------------ the table


def _none(*_: Any) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Phase:
    """One phase: what it reads, what it writes, and how to tell that it finished."""

    name: str
    verb: str
    fields: Callable[[SRDConfig], tuple[str, ...]]
    after: Callable[[SRDConfig], tuple[str, ...]]
    files: Callable[[SRDConfig, Path], dict[str, Path]]
    outputs: tuple[str, ...]
    """Run-dir-relative artifacts (globs allowed) moved aside when the phase is stale."""
    done: Callable[[Path], bool]
    enabled: Callable[[SRDConfig], bool] = lambda config: True
    derived: Callable[[SRDConfig, Path], dict[str, Any]] = _none
    eval_label: str | None = None
    """For evaluation phases: the model's row in eval.jsonl (its artifact)."""
    code: Callable[[SRDConfig], tuple[str, ...]] = lambda config: ()
    """srd_core source files (globs under srd_core/) that compute the artifact: an edit makes it stale."""
    components: Callable[[SRDConfig], tuple[str, ...]] | None = None
    """Config paths of the component specs whose code computes the artifact (default: those among ``fields``)."""
    work: Callable[[RunContext], Any] | None = None
    """What `srd run` calls to compute the artifact (the dependency rule around it is the driver's)."""
    describe: Callable[[PlanView], Rows] = lambda view: []
    """The rows `srd run --dry-run` lists for the phase's step (none: not listed)."""
    step: str = ""
    """The step of `srd run` it belongs to (default: its name). The phases of one step run one after the other,
    are timed and printed as one, and the dry run describes the step once (its first phase's ``describe``)."""
    then: Callable[[RunContext, bool], None] | None = None
    """What `srd run` does once the phase's step is over, done or skipped (given whether it did work): run
    bookkeeping that is no part of the artifact (the step's first phase's ``then``)."""
    main_only: bool = False
    """Run by the main process alone (the others go on)."""
    timed_when_off: bool = False
    """Listed by `srd run` (as skipped) even when the config does not use it."""
    parallel: Callable[[RunContext, list[str]], dict[str, float]] | None = None
    """Runs several neighbouring phases with the same ``parallel`` at once (phase names → seconds each), when
    ``run.parallel_arms`` is set and one process runs."""

    @property
    def step_name(self) -> str:
        return self.step or self.name


def _exists(*names: str) -> Callable[[Path], bool]:
    return lambda run_dir: all((run_dir / n).is_file() for n in names)


def _has_eval_row(label: str) -> Callable[[Path], bool]:
    def done(run_dir: Path) -> bool:
        path = run_dir / EVAL_FILE
        return path.is_file() and any(r.get("model") == label for r in read_jsonl(path, tolerate_torn_tail=True))

    return done


def _needs_prepare(config: SRDConfig) -> bool:
    from srd_core.models.prepare import needs_prepare  # deferred: torch

    return needs_prepare(config)


def _prepare_files(config: SRDConfig, run_dir: Path) -> dict[str, Path]:
    found = _train_data(config, run_dir)
    for role in ("teacher", "student"):
        if getattr(config, role).path is not None:
            found.update(_model_dir(config, run_dir, role))
    return found


SAMPLING_ONLY = ("temperature", "top_p", "top_k")
"""reflection.* fields greedy decoding ignores (as does the seed)."""


def _reflect_fields(config: SRDConfig) -> tuple[str, ...]:
    sampled = config.reflection.do_sample
    own = tuple(f"reflection.{n}" for n in ReflectionConfig.model_fields if sampled or n not in SAMPLING_ONLY)
    return (*DATA_TRAIN, *own, *(("run.seed",) if sampled else ()), *STUDENT_LOAD)


def _train_phase(label: str) -> Phase:
    """``train_<label>``: what arm ``label`` reads (its settings' fields, its curation, a matched step count)."""

    def arm(config: SRDConfig) -> Arm:
        return arm_of(config, label)

    def target(config: SRDConfig) -> Arm | None:
        matched = arm(config).match_steps_of
        return arm_of(config, matched) if matched is not None else None

    def fields(config: SRDConfig) -> tuple[str, ...]:
        own, matched = arm(config).sources, target(config)
        extra = tuple(f for f in matched.sources if f not in own) if matched is not None and config.arms else ()
        return (
            TRAIN_SHARED + own + extra + DATA_TRAIN + _select_best_fields(config) + ("run.seed", "teacher", "student")
        )

    def after(config: SRDConfig) -> tuple[str, ...]:
        needs = [a for a in (arm(config), target(config)) if a is not None and _uses_curation(a.pacer)]
        seeds = ("reflect",) if _seeds_from_reflection(config) else ()
        return ("prepare", *seeds, *dict.fromkeys(curate_phase(a) for a in needs))

    def files(config: SRDConfig, run_dir: Path) -> dict[str, Path]:
        found = {
            **_train_data(config, run_dir),
            **_model_dir(config, run_dir, "teacher"),
            **_model_dir(config, run_dir, "student"),
        }
        if config.train.select_best.enabled:  # the dev set that picks each stage's weights
            found.update(_spec_files(config.data.dev, "data.dev", run_dir))
        if _uses_curation(arm(config).pacer):
            key, path = _curation_file(run_dir, arm(config))
            found[key] = path
        if _seeds_from_reflection(config):  # the replay buffer starts with the reflection's outputs
            found[REFLECTION_FILE] = run_dir / REFLECTION_FILE
        return found

    def derived(config: SRDConfig, run_dir: Path) -> dict[str, Any]:
        dev_limit = _generation_limit("eval")(config, run_dir) if config.train.select_best.enabled else {}
        return {**_matched_steps(config, run_dir, label), **dev_limit}

    return Phase(
        name=f"train_{label}",
        verb="retraining",
        fields=fields,
        after=after,
        files=files,
        outputs=(label,),
        done=_exists(f"{label}/{SUMMARY_FILE}", f"{label}/{FINAL_DIR}/config.json"),
        derived=derived,
        code=lambda config: TRAIN_CODE + (DEV_EVAL_CODE if config.train.select_best.enabled else ()),
        work=work.train(label),
        describe=describe_train(label),
        parallel=work.train_in_parallel,
    )


def _seeds_from_reflection(config: SRDConfig) -> bool:
    """Whether training reads the reflection (``ResponseSource.reads_reflection``)."""
    spec = config.train.responses
    return get_component("response_source", spec.name, **spec.params).reads_reflection()


def _generation_limit(section: str) -> Callable[[SRDConfig, Path], dict[str, Any]]:
    """The new-token limit derived from the data when ``<section>.max_new_tokens`` is unset (see
    ``srd_core.models.lengths``): an input of the phase, so a new derived value makes its artifacts stale."""

    def derived(config: SRDConfig, run_dir: Path) -> dict[str, Any]:
        if getattr(config, section).max_new_tokens is not None:
            return {}
        found = derived_max_new_tokens(config, run_dir)
        return {f"{section}.max_new_tokens from the data": found[0]} if found is not None else {}

    return derived


def _curate_arm_phase(owner: str) -> Phase:
    """``curate_<owner>``: the curation of an arm whose curriculum differs from the curriculum section."""
    folder = curation_dir_name(owner)

    def groups(config: SRDConfig) -> bool:
        return _reads_groups(config, arm_of(config, owner).curriculum)

    return Phase(
        f"curate_{owner}",
        "recomputing",
        fields=lambda config: (
            "curriculum",
            *(f for f in arm_of(config, owner).sources if f.startswith("arms.")),
            *(DATA_TRAIN if groups(config) else ()),
        ),
        after=lambda config: ("reflect",),
        files=lambda config, run_dir: {
            REFLECTION_FILE: run_dir / REFLECTION_FILE,
            **(_train_data(config, run_dir) if groups(config) else {}),
        },
        outputs=(folder,),
        done=_exists(f"{folder}/{CURATION_FILE}"),
        code=lambda config: CURATE_CODE,
        work=work.curate_arm(owner),
        describe=describe_curate_arm(owner),
    )


REFERENCE_MODELS = {"teacher": ("teacher", "prepare"), "student_init": ("student", "prepare")}
"""Evaluated models besides the arms: label → (config section it is loaded with, the phase that makes it)."""


def _eval_phase(label: str) -> Phase:
    role, maker = REFERENCE_MODELS.get(label, ("student", f"train_{label}"))

    def files(config: SRDConfig, run_dir: Path) -> dict[str, Path]:
        if label not in REFERENCE_MODELS:
            model = {f"{label} model": run_dir / label / FINAL_DIR}
        else:
            model = _model_dir(config, run_dir, role)
        return {**_eval_data(config, run_dir), **model}

    return Phase(
        name=f"evaluate_{label}",
        verb="re-evaluating",
        fields=lambda config: EVAL_FIELDS + DATA_EVAL + (f"{role}.dtype", f"{role}.trust_remote_code"),
        after=lambda config: (maker,),
        files=files,
        outputs=(),
        done=_has_eval_row(label),
        derived=_generation_limit("eval"),
        eval_label=label,
        code=lambda config: EVAL_CODE,
        work=work.evaluate(label),
        describe=describe_evaluate,
        step="evaluate",
        then=work.after_evaluate,
        main_only=True,
    )


def _uses_teacher_cache(config: SRDConfig) -> bool:
    from srd_core.training.teacher_cache import uses_cache  # deferred: torch

    return uses_cache(config)


def _teacher_cache_built(run_dir: Path) -> bool:
    return any((run_dir / TEACHER_CACHE_DIR).glob("*/meta.json"))


def _teacher_cache_files(config: SRDConfig, run_dir: Path) -> dict[str, Path]:
    found = {**_model_dir(config, run_dir, "teacher"), CURATION_FILE: run_dir / CURATION_FILE}
    for arm in resolve_arms(config).values():
        if arm.curation is not None:
            key, path = _curation_file(run_dir, arm)
            found[key] = path
    return found


TEACHER_CACHE = Phase(
    "teacher_cache",
    "rebuilding",
    # Broad on purpose: the cache is stored under a content key of its own (teacher, tokenizer, data, lengths,
    # signal, temperatures), so a rerun on an unchanged key finds its shards and costs only that check. The build
    # moves old keys to teacher_cache/.superseded (bounded; outputs=()) and the training phases key on the same
    # inputs themselves, so a stale cache record never retrains a student on its own.
    fields=lambda config: (
        *(f"train.{n}" for n in TrainConfig.model_fields if n not in TRAIN_LOOSE),
        "baseline",
        "curriculum",
        "arms",
        "teacher",
        *DATA_TRAIN,
        "run.seed",
    ),
    after=lambda config: ("prepare", "curate", *curate_arm_phases(config)),
    files=_teacher_cache_files,
    outputs=(),
    done=_teacher_cache_built,
    enabled=_uses_teacher_cache,
    # the signal's code is part of the cache key too (a rebuild cannot reuse rows its old code encoded); changes to
    # teacher_cache.py's own format bump its FORMAT_VERSION, which is in the key
    components=lambda config: ("train.teacher_signal", "baseline.teacher_signal"),
    work=work.teacher_cache,
    describe=describe_teacher_cache,
)


def _reads_groups(config: SRDConfig, curriculum: CurriculumConfig | None = None) -> bool:
    """Whether curation reads the samples' fields beyond the reflection (a grouping that forms groups)."""
    return forms_groups(curriculum or config.curriculum)


def _curate_fields(config: SRDConfig) -> tuple[str, ...]:
    """``curriculum`` (metrics, fusion, selector, pacer, tie_break, groups, stratify), plus the training data
    whose fields (family, a column, the prompts) a grouping reads."""
    return ("curriculum", *(DATA_TRAIN if _reads_groups(config) else ()))


def curate_arm_phases(config: SRDConfig) -> tuple[str, ...]:
    """The curation phases of arms with a curriculum of their own (``curate_<arm>``)."""
    return tuple(dict.fromkeys(curate_phase(a) for a in resolve_arms(config).values() if a.curation is not None))


def report_arms(config: SRDConfig) -> tuple[str, ...]:
    """The arms whose artifacts the report reads: srd and baseline by default (as always), else the arms."""
    return ("srd", "baseline") if config.arms is None else tuple(resolve_arms(config))


def _report_files(config: SRDConfig, run_dir: Path) -> dict[str, Path]:
    names = [
        EVAL_FILE,
        REFLECTION_FILE,
        CURATION_FILE,
        SAMPLES_META_FILE,
        *(f"{label}/{name}" for label in report_arms(config) for name in (SUMMARY_FILE, METRICS_FILE, EVAL_FILE)),
    ]
    names += [f"{curation_dir_name(p[len('curate_') :])}/{CURATION_FILE}" for p in curate_arm_phases(config)]
    return {name: run_dir / name for name in names}


def _prepare_phase() -> Phase:
    return Phase(
        "prepare",
        "preparing again",
        fields=lambda config: (
            "teacher.path",
            "teacher.preset",
            "student.path",
            "student.preset",
            *DATA_TRAIN,
            "prepare",
            *(("run.seed",) if config.prepare.seed is None else ()),
        ),
        after=lambda config: (),
        files=_prepare_files,
        outputs=(PREPARED_DIR,),
        done=_exists(f"{PREPARED_DIR}/{PREPARE_MANIFEST_FILE}"),
        enabled=_needs_prepare,
        code=lambda config: PREPARE_CODE,
        work=work.prepare,
        describe=describe_prepare,
        then=work.after_prepare,
        timed_when_off=True,
    )


REFLECT = Phase(
    "reflect",
    "reflecting again",
    fields=_reflect_fields,
    after=lambda config: ("prepare",),
    files=lambda config, run_dir: {**_train_data(config, run_dir), **_model_dir(config, run_dir, "student")},
    outputs=(REFLECTION_FILE, REFLECTION_META_FILE, REFLECTION_PARTIAL_GLOB),
    done=_exists(REFLECTION_FILE, REFLECTION_META_FILE),
    derived=_generation_limit("reflection"),
    code=lambda config: REFLECT_CODE,
    work=work.reflect,
    describe=describe_reflect,
)
CURATE = Phase(
    "curate",
    "recomputing",
    fields=_curate_fields,
    after=lambda config: ("reflect",),
    files=lambda config, run_dir: {
        REFLECTION_FILE: run_dir / REFLECTION_FILE,
        **(_train_data(config, run_dir) if _reads_groups(config) else {}),
    },
    outputs=(CURATION_FILE, CURATION_META_FILE),
    done=_exists(CURATION_FILE),
    code=lambda config: CURATE_CODE,
    work=work.curate,
    describe=describe_curate,
)


def _train_phases(config: SRDConfig) -> list[Phase]:
    """One ``train_<arm>`` per arm; the default run's disabled baseline is there, off."""
    arms = list(resolve_arms(config))
    train = [_train_phase(a) for a in arms]
    if config.arms is None and "baseline" not in arms:
        train.append(_off(_train_phase("baseline")))
    return train


def _eval_phases(config: SRDConfig) -> list[Phase]:
    """``evaluate_<model>`` of the teacher, the initial student and every arm (a disabled baseline: off)."""
    arms = list(resolve_arms(config))
    evaluated = ["teacher", "student_init", *arms]
    if config.arms is None and "baseline" not in arms:  # a disabled baseline: its phases exist, off
        evaluated.append("baseline")
    return [_eval_phase(m) if m in arms or m in REFERENCE_MODELS else _off(_eval_phase(m)) for m in evaluated]


def _report_phases(config: SRDConfig) -> list[Phase]:
    names = [p.name for p in _train_phases(config) + _eval_phases(config)]
    return [
        Phase(
            "report",
            "rewriting",
            fields=lambda config: ("report",),
            after=lambda config: tuple(names),
            files=_report_files,
            outputs=(REPORT_FILE, PLOTS_DIR),
            done=_exists(REPORT_FILE),
            enabled=lambda config: config.report.enabled,
            code=lambda config: REPORT_CODE,
            work=work.report,
            describe=describe_report,
            then=work.after_report,
            main_only=True,
        )
    ]


@dataclass(frozen=True)
class Row:
    """One row of the table: the phases of a config it gives, and the `srd` command that runs them alone."""

    stem: str
    """The name of its phases, or their prefix ending in ``_`` (``train_``: one ``train_<arm>`` per arm)."""
    build: Callable[[SRDConfig], list[Phase]]
    command: Command | None = None
    """The single-phase command (``srd_core.pipeline.commands``); None: `srd run` alone runs them."""

    def holds(self, name: str) -> bool:
        """Whether phase ``name`` comes from this row."""
        return name == self.stem or (self.stem.endswith("_") and name.startswith(self.stem))


TABLE: list[Row] = [
    Row("prepare", lambda config: [_prepare_phase()], commands.PREPARE),
    Row("reflect", lambda config: [REFLECT], commands.REFLECT),
    Row("curate", lambda config: [CURATE], commands.CURATE),
    Row(
        "curate_",
        lambda config: [_curate_arm_phase(p[len("curate_") :]) for p in curate_arm_phases(config)],
        commands.CURATE,
    ),
    Row("teacher_cache", lambda config: [TEACHER_CACHE]),
    Row("train_", _train_phases, commands.TRAIN),
    Row("evaluate_", _eval_phases, commands.EVALUATE),
    Row("report", _report_phases),
]
"""Every phase of `srd run`, in order, and the command that runs each alone. `srd run`, its dry run, the planner,
the upstream checks and the single-phase commands of the CLI all read this table."""


def table_commands() -> list[Command]:
    """The single-phase commands of the table, in its order (one `srd` command each)."""
    return list(dict.fromkeys(row.command for row in TABLE if row.command is not None))


def command_line(name: str) -> str | None:
    """The `srd` command line that runs phase ``name`` alone (``train CONFIG --label baseline``), or None."""
    for row in TABLE:
        if row.command is not None and row.holds(name):
            return commands.command_line(row.command, name[len(row.stem) :] if row.stem.endswith("_") else None)
    return None


def phases_for(config: SRDConfig) -> list[Phase]:
    """The phases of a run of ``config``, in order: one train_/evaluate_ phase per arm."""
    return [phase for row in TABLE for phase in row.build(config)]


def phase_names(config: SRDConfig) -> list[str]:
    """The names of the phases a run of ``config`` runs (those enabled), in order."""
    return [phase.name for phase in phases_for(config) if phase.enabled(config)]


def steps(phases: list[Phase]) -> list[list[Phase]]:
    """The phases grouped into the steps of `srd run` (neighbours with the same ``step_name``)."""
    return [list(group) for _, group in itertools.groupby(phases, key=lambda p: p.step_name)]


def _off(phase: Phase) -> Phase:
    return replace(phase, enabled=lambda config: False)


def phase_rank(name: str) -> int:
    """Where a phase named ``name`` comes in a run (curate_<arm> with curate, train_<arm> with train_, ...)."""
    for i, row in enumerate(TABLE):
        if row.holds(name) or name.startswith(f"{row.stem}_"):
            return i
    return len(TABLE)
