"""Checks of a config that need more than its schema, run before any command does work.

``srd config validate`` and every command call ``validate_config`` right after loading the config
and before a run directory is created, so most mistakes cost seconds and leave nothing on disk. What
is checked here loads no weights and downloads nothing: schedules against the stages each pacer plans
(and their values in range over the whole run), model sources (preset known and consistent, local
directories that exist and hold a model), a cached teacher signal against the vocabulary it covers,
LoRA target modules against the student's modules (built on the meta device), data files that exist
and can be read, the first records of local jsonl data loaded as the run loads them, an eval split
to evaluate on, room for the curriculum's bins, the run directory's place, the trackers' packages,
and what the machine can do (fp16 needs CUDA). Each problem is one ``ConfigError`` line naming the
field.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from srd_core.arms import arm_names, resolve_arms
from srd_core.config import ComponentSpec, ModelConfig, SRDConfig, arm_spec_origin
from srd_core.curation.curate import build_metrics
from srd_core.data.samples import make_task, probe_split, split_spec, tokenizer_is_local
from srd_core.errors import ConfigError, SRDError
from srd_core.models.hub import looks_like_path
from srd_core.models.presets import llama_config, resolve_preset
from srd_core.plugins import get_component
from srd_core.training.trackers import check_available

if TYPE_CHECKING:
    import torch

SCHEDULE_RANGES: dict[str, tuple[float, float | None, str]] = {
    "temperature": (0.0, None, "a temperature must be > 0"),
    "sft_weight": (0.0, 1.0, "an SFT weight must be in [0, 1]"),
}
"""Schedule role → (lower, upper, rule). Temperatures are exclusive at 0, SFT weights inclusive."""

PROBE_SAMPLES = 1000
"""Valid samples per data split that validation loads (the run loads them all)."""

PROBE_MAX_BYTES = 32 * 2**20
"""jsonl data above this size (per split) is not probed by validation: the probe parses the whole file."""

PROBE_TOTAL = 101
"""Nominal optimizer steps over which schedules are sampled (values are checked at every 10th step)."""


def validate_config(
    config: SRDConfig,
    source: str | Path | None = None,
    files: bool = True,
    evaluates: bool = True,
    curates: bool = True,
) -> SRDConfig:
    """Raise one ``ConfigError`` line (prefixed with ``source``) for the first problem of ``config``.

    ``files=False`` leaves out what reads the disk (data files, model directories, the run dir): for
    configs written for another machine, and for dry runs that may assume the data. ``evaluates=False``
    (commands that never evaluate: prepare, reflect, curate, train without eval_every) does not ask for
    an eval split; ``curates=False`` (prepare, reflect, evaluate) does not count samples for the bins.
    """
    checks = [_check_curriculum, _check_schedules, _check_presets, _check_responses]
    if files:
        checks += [
            _check_models,
            _check_teacher_signals,
            _check_lora,
            _check_data,
            *([_check_bins] if curates else []),
            _check_samples,
            _check_run_dir,
        ]
    if evaluates:
        checks.append(_check_eval_split)
    checks += [_check_trackers, _check_machine]
    try:
        for check in checks:
            check(config)
    except SRDError as exc:
        raise ConfigError(f"{source}: {exc}" if source is not None else str(exc)) from None
    return config


# ------------------------------------------------------------------------------------------- schedules


def _check_curriculum(config: SRDConfig) -> None:
    """At least one difficulty metric, none listed twice (curation keys its values by metric name)."""
    build_metrics(config.curriculum)
    for arm in resolve_arms(config).values():
        if arm.curation == arm.name:
            try:
                build_metrics(arm.curriculum)
            except ConfigError as exc:
                raise ConfigError(f"arms.{arm.name}.{exc}") from None


def _labels(config: SRDConfig) -> Iterator[tuple[str, ComponentSpec, ComponentSpec, ComponentSpec]]:
    """(section, pacer, temperature, sft_weight) of every arm the run trains."""
    for arm in resolve_arms(config).values():
        yield arm.section, arm.pacer, arm.temperature, arm.sft_weight


def _inherited(config: SRDConfig, section: str, role: str) -> str:
    """For an arm that inherits a schedule: where it comes from and what to set instead."""
    if not section.startswith("arms."):
        return ""
    name = section.split(".", 1)[1]
    _, origin = arm_spec_origin(config, name, role)
    if origin == f"{section}.{role}":
        return ""
    return f"; it is inherited from {origin}: give the arm its own, e.g. --set '{section}.{role}.values=[...]'"


def _pacer_field(section: str) -> str:
    return {"train": "curriculum.pacer", "baseline": "baseline.pacer"}.get(section, f"{section}.pacer")


def _check_schedules(config: SRDConfig) -> None:
    for section, pacer_spec, *schedules in _labels(config):
        stages = get_component("pacer", pacer_spec.name, **pacer_spec.params).planned_stages()
        for role, spec in zip(("temperature", "sft_weight"), schedules, strict=True):
            field = f"{section}.{role}"
            schedule = get_component("schedule", spec.name, **spec.params)
            if stages is not None:
                try:
                    schedule.check_stages(stages)
                except ValueError as exc:
                    raise ConfigError(
                        f"{field}: {exc} ({_pacer_field(section)} {pacer_spec.name!r} plans "
                        f"{stages} stage{'s' * (stages != 1)}){_inherited(config, section, role)}"
                    ) from None
            _check_values(field, role, schedule, stages or 1)


def _check_values(field: str, role: str, schedule, stages: int) -> None:
    """Sample the schedule over a nominal run and check every value against the role's range."""
    low, high, rule = SCHEDULE_RANGES[role]
    steps = [0, PROBE_TOTAL - 1, *range(10, PROBE_TOTAL - 1, 10)]  # the ends first: they name the worst value
    for stage in range(stages):
        for step in steps:
            try:
                value = float(schedule.value(step, PROBE_TOTAL, stage))
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{field}: {exc}") from None
            bad_low = value <= low if role == "temperature" else value < low
            if value != value or bad_low or (high is not None and value > high):
                where = f" (stage {stage + 1})" if stages > 1 and (stage or schedule.per_stage) else ""
                raise ConfigError(f"{field}: value {value:g}{where} is out of range: {rule}")


# ---------------------------------------------------------------------------------------------- models


def _check_presets(config: SRDConfig) -> None:
    for role in ("teacher", "student"):
        cfg: ModelConfig = getattr(config, role)
        if cfg.path is not None and cfg.preset is not None:
            raise ConfigError(f"{role}: give either `path` or `preset`, not both")
        if role == "teacher" and cfg.lora is not None:
            raise ConfigError("teacher.lora: the teacher is frozen; LoRA adapters train the student (student.lora)")
        if cfg.preset is not None:
            _check_preset(config, role, cfg.preset)


def _check_models(config: SRDConfig) -> None:
    for role in ("teacher", "student"):
        cfg: ModelConfig = getattr(config, role)
        if cfg.path is not None:
            _check_model_dir(f"{role}.path", cfg.path)
        if cfg.adapter is not None:
            _check_model_dir(f"{role}.adapter", cfg.adapter)


def _vocab_bound(config: SRDConfig) -> int | None:
    """An upper bound of the vocabulary a teacher cache covers, known without loading weights: the teacher's
    head rows from a local config (cut to the student's when both are local and differ, as the cache is), or
    the vocabulary `prepare` trains when the teacher is a preset; None for hub ids and unreadable configs.
    A preset student with a real teacher takes the teacher's tokenizer, so it does not lower the bound."""
    from srd_core.training.teacher_cache import head_rows  # deferred: torch

    rows = {}
    for role in ("teacher", "student"):
        cfg: ModelConfig = getattr(config, role)
        if cfg.preset is not None:
            if config.teacher.preset is not None:
                rows[role] = config.prepare.vocab_size
        elif cfg.path is not None and (Path(cfg.path).expanduser() / "config.json").is_file():
            with contextlib.suppress(OSError, ValueError, KeyError):  # loading the model names the problem
                rows[role] = head_rows(config, config.run.dir, role)
    if "teacher" not in rows:
        return None
    return min(rows.values())


def _check_teacher_signals(config: SRDConfig) -> None:
    """A cached teacher signal must fit the vocabulary it covers (e.g. top-k's k below it)."""
    specs = [arm.teacher_signal for arm in resolve_arms(config).values()]  # an arm may set its own signal
    if not any(get_component("teacher_signal", spec.name, **spec.params).cached for spec in specs):
        return  # online teachers only: nothing to check, and the training modules stay unimported
    from srd_core.training.teacher_cache import build_signal, signal_spec  # deferred: torch

    vocab = _vocab_bound(config)
    if vocab is None:
        return

    for label in arm_names(config):
        field, _ = signal_spec(config, label)
        signal = build_signal(config, label)
        if not signal.cached:
            continue
        try:
            signal.fields(vocab, [1.0])
        except ValueError as exc:
            raise ConfigError(f"{field}.{exc}") from None


def _check_responses(config: SRDConfig) -> None:
    """Generated responses need the online teacher (a cache holds only the ground truth's positions), and the
    adaptive threshold's dev-loss update needs a dev split."""
    source = get_component("response_source", config.train.responses.name, **config.train.responses.params)
    if source.generates:
        for arm in resolve_arms(config).values():  # every arm the run trains (an `arms` section names its own)
            field, spec = arm.teacher_signal_field, arm.teacher_signal
            if get_component("teacher_signal", spec.name, **spec.params).cached:
                raise ConfigError(
                    f"train.responses: {source.name!r} trains on student-generated responses, which "
                    f"the cached {field} {spec.name!r} cannot score (set {field}: online, or "
                    "train.responses: ground_truth)"
                )
    why = source.needs_dev_split()
    if why is not None and config.data.dev is None and config.data.eval is None:
        raise ConfigError(
            f"train.responses.{why}; set data.dev (a task whose eval split is the dev set), or "
            "data.eval (then data.train's eval split is the dev set)"
        )


def _student_modules(config: SRDConfig) -> dict[str, torch.nn.Module] | None:
    """The student's modules by name, built on the meta device (no weights read); None for a hub id or a
    config transformers cannot build (loading the student names the problem)."""
    import torch  # deferred: torch
    from transformers import AutoConfig, AutoModelForCausalLM  # deferred: transformers

    cfg = config.student
    try:
        if cfg.preset is not None:
            preset = resolve_preset(cfg.preset, config.prepare.student_arch.model_dump(), "student.preset")
            hf_config = llama_config(preset, vocab_size=config.prepare.vocab_size)
        elif cfg.path is not None and (Path(cfg.path).expanduser() / "config.json").is_file():
            hf_config = AutoConfig.from_pretrained(Path(cfg.path).expanduser(), trust_remote_code=cfg.trust_remote_code)
        else:
            return None
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(hf_config, trust_remote_code=cfg.trust_remote_code)
    except Exception:  # any config transformers cannot build: loading the student reports it properly
        return None
    return dict(model.named_modules())


def _check_lora(config: SRDConfig) -> None:
    """``student.lora.target_modules`` must match modules of the student (as peft matches them), and only
    modules LoRA can adapt (linear, embedding, convolution layers)."""
    lora = config.student.lora
    if lora is None or lora.target_modules == "all-linear":
        return
    import torch  # deferred: torch

    from srd_core.models.loading import import_peft  # deferred: torch

    peft = import_peft("student.lora")
    modules = _student_modules(config)
    if modules is None:
        return
    from peft.tuners.tuners_utils import check_target_module_exists  # deferred: peft
    from transformers.pytorch_utils import Conv1D  # deferred: transformers

    peft_cfg = peft.LoraConfig(target_modules=lora.target_modules, task_type="CAUSAL_LM")
    matched = {name: m for name, m in modules.items() if name and check_target_module_exists(peft_cfg, name)}
    adaptable = (torch.nn.Linear, torch.nn.Embedding, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d, Conv1D)
    field = "student.lora.target_modules"
    if not matched:
        leaves = sorted({name.rsplit(".", 1)[-1] for name, m in modules.items() if isinstance(m, adaptable)})
        raise ConfigError(
            f"{field}: {lora.target_modules!r} matches no module of the student "
            f"(its linear and embedding layers: {', '.join(leaves)})"
        )
    other = next(((name, m) for name, m in matched.items() if not isinstance(m, adaptable)), None)
    if other is not None:
        raise ConfigError(
            f"{field}: {lora.target_modules!r} matches {other[0]} ({type(other[1]).__name__}), "
            "which LoRA cannot adapt; target linear or embedding layers"
        )


def _check_preset(config: SRDConfig, role: str, name: str) -> None:
    overrides = getattr(config.prepare, f"{role}_arch").model_dump()
    preset = resolve_preset(name, overrides, f"{role}.preset")
    arch = f"prepare.{role}_arch"
    kv = preset.num_kv_heads or preset.num_heads
    if preset.num_heads % kv:
        raise ConfigError(f"{arch}.num_kv_heads: {kv} does not divide num_heads {preset.num_heads}")
    if preset.max_position_embeddings < config.data.max_length:
        raise ConfigError(
            f"{arch}.max_position_embeddings: {preset.max_position_embeddings} is below "
            f"data.max_length {config.data.max_length}"
        )


def _check_model_dir(field: str, name: str) -> None:
    """A local path must be a directory holding a model; hub ids are left to loading (it knows the cache)."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not ((path / "config.json").is_file() or (path / "adapter_config.json").is_file()):
            raise ConfigError(
                f"{field}: {name!r} is a directory but holds no model (no config.json or adapter_config.json)"
            )
    elif path.exists():
        raise ConfigError(f"{field}: {name!r} is a file; expected a model directory or a hub id")
    elif looks_like_path(name):
        raise ConfigError(f"{field}: local directory {name!r} does not exist")


# ------------------------------------------------------------------------------------------------ data


def _task_specs(config: SRDConfig) -> Iterator[tuple[str, ComponentSpec]]:
    yield "data.train", config.data.train
    if config.data.eval is not None:
        yield "data.eval", config.data.eval
    if config.data.dev is not None:
        yield "data.dev", config.data.dev
    for name, spec in config.eval.sets.items():
        yield f"eval.sets.{name}", spec


def _task(config: SRDConfig, spec: ComponentSpec):
    """The task component of ``spec``, built as the run builds it (its params validated by the schema)."""
    return make_task(config, spec)


def _check_data(config: SRDConfig) -> None:
    """Every task's local sources exist and can be read (``Task.check_sources``)."""
    for field, spec in _task_specs(config):
        try:
            _task(config, spec).check_sources()
        except ValueError as exc:
            raise ConfigError(f"{field}.{exc}") from None


def _check_samples(config: SRDConfig) -> None:
    """The first records of each local jsonl split load as the run will load its first records: fields, ids,
    encoding, ``on_bad_sample`` and ``data.limit_*`` applied.

    Left to the run (`srd run` reads all its data before it writes anything): tasks whose ``probe_bytes``
    is None (csv / json / parquet files, read through ``datasets``, which caches; generated tasks and hub
    datasets) or above ``PROBE_MAX_BYTES``, and splits formatted with a chat template whose tokenizer is not
    a local directory (prepare trains it, or the hub has it).
    """
    for split in ("train", "eval"):
        if split == "eval" and not (config.data.eval is not None or _has_eval_split(config)):
            continue  # _check_eval_split names it for commands that evaluate
        spec = split_spec(config, split)
        size = _task(config, spec).probe_bytes()
        if size is None or not tokenizer_is_local(config, spec):
            continue
        if size <= PROBE_MAX_BYTES:
            limit = config.data.limit_train if split == "train" else config.data.limit_eval
            probe_split(config, split, min(PROBE_SAMPLES, limit or PROBE_SAMPLES))


def _check_eval_split(config: SRDConfig) -> None:
    if config.data.eval is None and not _has_eval_split(config):
        raise ConfigError(
            "data.eval: no eval split to evaluate on: set data.eval, or data.train.eval, or carve "
            "one with data.train.dev_size / dev_ratio"
        )


def _has_eval_split(config: SRDConfig) -> bool:
    """Whether the train task also provides an eval split (``Task.has_split``; a task that cannot tell is
    trusted to)."""
    return _task(config, config.data.train).has_split("eval") is not False


def _train_count(config: SRDConfig) -> int | None:
    """Training samples the run will have at most, when that is cheap to know (``Task.count``; else None)."""
    count = _task(config, config.data.train).count("train")
    if config.data.limit_train is not None:
        count = config.data.limit_train if count is None else min(count, config.data.limit_train)
    return count


def _check_bins(config: SRDConfig) -> None:
    """A curation pacer's bins must each get at least one kept sample."""
    pacer = get_component("pacer", config.curriculum.pacer.name, **config.curriculum.pacer.params)
    bins = pacer.planned_stages()
    total = _train_count(config)
    if total is not None and total <= 0:
        raise ConfigError(
            f"data.train: no training samples are left ({total}) after carving the dev split (dev_size / dev_ratio)"
        )
    if not pacer.uses_curation or bins is None or total is None:
        return
    spec = config.curriculum.selector
    planned = get_component("selector", spec.name, **spec.params).planned_keep(total)
    kept = total if planned is None else planned  # a selector that cannot tell is assumed to keep all
    if kept < bins:
        raise ConfigError(
            f"curriculum.pacer: {bins} bins need at least {bins} kept samples; the data gives "
            f"{total} training samples and curriculum.selector keeps {kept}"
        )


# ------------------------------------------------------------------------------------- run dir, machine


def _check_run_dir(config: SRDConfig) -> None:
    """The run dir must be creatable and stay inside output_dir: output_dir and the run dir are directories
    where they exist, the run dir does not resolve (through a symlink) to a place outside output_dir, and the
    nearest existing ancestor is a directory a new directory can be made in (probed, then removed)."""
    out = config.run.output_dir
    if out.exists() and not out.is_dir():
        raise ConfigError(f"run.output_dir: {out} exists and is not a directory")
    resolved = config.run.dir.resolve()  # a symlink on the way (dangling ones too) points elsewhere
    if not resolved.is_relative_to(out.resolve()):
        raise ConfigError(
            f"run.name: {config.run.dir} resolves to {resolved}, outside run.output_dir "
            f"({out.resolve()}); remove the link or choose another run name"
        )
    if config.run.dir.exists() and not config.run.dir.is_dir():
        raise ConfigError(f"run.name: {config.run.dir} exists and is not a directory")
    ancestor = config.run.dir
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    field = "run.output_dir" if ancestor != config.run.dir and not out.is_dir() else "run.name"
    if not ancestor.is_dir():
        raise ConfigError(f"{field}: cannot create {config.run.dir}: {ancestor} is a file, not a directory")
    if ancestor == config.run.dir:
        return
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".srd-probe-", dir=ancestor))
    except OSError as exc:
        raise ConfigError(
            f"{field}: cannot create {config.run.dir}: no directory can be made in {ancestor} ({exc.strerror})"
        ) from None


def _check_trackers(config: SRDConfig) -> None:
    """Every tracker in ``train.log_with`` must be installed (else training would stop after prepare)."""
    check_available(list(config.train.log_with))


def _check_machine(config: SRDConfig) -> None:
    if config.train.mixed_precision == "fp16":
        import torch  # deferred: torch

        if not torch.cuda.is_available():
            raise ConfigError("train.mixed_precision: fp16 needs a CUDA GPU; use bf16 or no on this machine")
