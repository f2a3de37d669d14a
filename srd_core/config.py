"""The YAML config: pydantic models, component specs validated by each plugin's ``Params``.

A component is written ``{name: rrf, k: 60}``; its params are validated against that component's
``Params(extra="forbid")``. Errors name the file and the field path, in one line.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path, PurePath
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from srd_core.errors import ConfigError, PluginError
from srd_core.limits import (
    MAX_BATCH,
    MAX_CHECKPOINTS,
    MAX_EPOCHS,
    MAX_HEADS,
    MAX_KD_CHUNK,
    MAX_LAYERS,
    MAX_MINUTES,
    MAX_RECORD_BYTES,
    MAX_SAMPLES,
    MAX_STEPS,
    MAX_TOKENS,
    MAX_VOCAB,
    MAX_WIDTH,
)
from srd_core.plugins import get_registry
from srd_core.registry import format_validation_error, number_problem


class Strict(BaseModel):
    """Base of every config section: unknown keys are errors, and so are inf / nan floats, booleans where a
    number goes and strings where an integer goes."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _strict_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        assert info.field_name is not None  # a field validator
        problem = number_problem(value, cls.model_fields[info.field_name].annotation)
        if problem:
            raise PydanticCustomError("strict_number", problem)
        return value


class ComponentSpec(BaseModel):
    """``{name: <component>, **params}``; params are checked against the component's ``Params``."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(description="Registered component name (see `srd plugins --all`).")

    @property
    def params(self) -> dict[str, Any]:
        """The params written next to ``name``."""
        return dict(self.model_extra or {})

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data


def spec(name: str, **params: Any) -> ComponentSpec:
    """Shorthand for a default component spec."""
    return ComponentSpec(name=name, **params)


Beta = Annotated[float, Field(ge=0, lt=1)]


class RunConfig(Strict):
    name: str = Field("srd", description="Run name; the run directory is output_dir/name.")
    output_dir: Path = Field(Path("runs"), description="Parent directory of run directories.")
    seed: int = Field(0, ge=0, lt=2**32, description="Global seed (data order, initialisation, sampling).")
    parallel_arms: bool = Field(
        False,
        description="Train the arms (SRD and the baseline, or those of `arms`) at once, one process each with "
        "the CPU threads split (single-process runs only; on a small CPU machine they finish sooner).",
    )

    @field_validator("name")
    @classmethod
    def _inside_output_dir(cls, value: str) -> str:
        if "\0" in value:
            raise ValueError("a run name cannot hold a NUL byte")
        name = PurePath(value)
        if (
            not value.strip()
            or name.is_absolute()
            or value.startswith("~")
            or ".." in name.parts
            or name.parts in ((), (".",))
            or "\\" in value
        ):
            raise ValueError(
                f"{value!r} must be a relative name that stays inside output_dir (no '..', not absolute, not empty)"
            )
        return value

    @field_validator("output_dir")
    @classmethod
    def _no_nul(cls, value: Path) -> Path:
        if "\0" in str(value):
            raise ValueError("a path cannot hold a NUL byte")
        return value

    @property
    def dir(self) -> Path:
        return self.output_dir / self.name


class LoraConfig(Strict):
    r: int = Field(8, ge=1, le=MAX_WIDTH, description=f"LoRA rank (≤ {MAX_WIDTH:,}).")
    alpha: int = Field(16, ge=1, le=MAX_WIDTH, description=f"LoRA alpha (≤ {MAX_WIDTH:,}).")
    dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout.")
    target_modules: list[str] | str = Field("all-linear", description="Modules that get adapters.")
    merge_at_end: bool = Field(
        False, description="Save the final student merged into full weights (the adapter also goes to final/adapter/)."
    )


class ModelConfig(Strict):
    path: str | None = Field(None, description="HF hub id or local directory.")
    preset: str | None = Field(None, description="Built-in tiny architecture, trained by `prepare`.")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit).")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("float32", description="Weights dtype.")
    trust_remote_code: bool = Field(False, description="Allow custom modelling code from the hub.")
    adapter: str | None = Field(None, description="PEFT adapter applied on top of `path` (teacher).")
    lora: LoraConfig | None = Field(None, description="Train the student through LoRA adapters.")

    @model_validator(mode="after")
    def _one_source(self) -> ModelConfig:
        if self.path is None and self.preset is None:
            raise ValueError("give either `path` (hub id or local dir) or `preset`")
        return self


class DataConfig(Strict):
    train: ComponentSpec = Field(description="Task that provides the training samples.")
    eval: ComponentSpec | None = Field(None, description="Task that provides held-out samples.")
    dev: ComponentSpec | None = Field(
        None,
        description="Task whose eval split is the dev set of "
        "train.select_best (default: data.train's eval split, when data.eval is set).",
    )
    max_prompt_tokens: int = Field(
        256, ge=1, le=MAX_TOKENS, description=f"Prompts longer than this are cut from the left (≤ {MAX_TOKENS:,})."
    )
    max_length: int = Field(512, ge=2, le=MAX_TOKENS, description=f"Prompt + response token limit (≤ {MAX_TOKENS:,}).")
    limit_train: int | None = Field(
        None, ge=1, le=MAX_SAMPLES, description=f"Use only the first N training samples (≤ {MAX_SAMPLES:,})."
    )
    limit_eval: int | None = Field(
        None, ge=1, le=MAX_SAMPLES, description=f"Use only the first N eval samples (≤ {MAX_SAMPLES:,})."
    )
    on_bad_sample: Literal["stop", "skip"] = Field("stop", description="Invalid sample: stop, or skip and count.")
    max_record_bytes: int = Field(
        2**20,
        ge=1,
        le=MAX_RECORD_BYTES,
        description="Longest line of a jsonl data file, in bytes (1 MiB; "
        f"≤ {MAX_RECORD_BYTES:,}): a longer record is a bad sample naming file and line, read no further "
        "(records nested deeper than 32 levels are too).",
    )

    @model_validator(mode="after")
    def _room_for_response(self) -> DataConfig:
        if self.max_length <= self.max_prompt_tokens:
            raise ValueError(
                f"max_length ({self.max_length}) must exceed max_prompt_tokens "
                f"({self.max_prompt_tokens}): no room is left for the response"
            )
        return self


class ReflectionConfig(Strict):
    batch_size: int = Field(16, ge=1, le=MAX_BATCH, description=f"Prompts generated per batch (≤ {MAX_BATCH:,}).")
    max_new_tokens: int | None = Field(
        None,
        ge=1,
        le=MAX_TOKENS,
        description="Generation length limit (null: from "
        "the data, the longest training reference in tokens × 1.25 + 8, at most 256; "
        f"≤ {MAX_TOKENS:,}).",
    )
    do_sample: bool = Field(False, description="Sample instead of greedy decoding.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling.")
    top_k: int = Field(0, ge=0, le=MAX_VOCAB, description=f"Top-k sampling (0 = off; ≤ {MAX_VOCAB:,}).")
    bucket_by_length: bool = Field(True, description="Batch prompts of similar length together.")
    no_repeat_ngram_size: int = Field(
        0,
        ge=0,
        le=MAX_TOKENS,
        description=f"Never repeat an n-gram of this size (0 = off; the official SRD scripts use 6; ≤ {MAX_TOKENS:,}).",
    )
    ce_exclude_eos: bool = Field(
        False, description="Leave the response's EOS token out of the reflection CE (the official SRD code does)."
    )


class CurriculumConfig(Strict):
    metrics: list[ComponentSpec] = Field(
        default_factory=lambda: [spec("rouge_l"), spec("cross_entropy")],
        description="Difficulty metrics, each turned into a rank.",
    )
    fusion: ComponentSpec = Field(default_factory=lambda: spec("rrf"), description="Rank fusion.")
    selector: ComponentSpec = Field(default_factory=lambda: spec("fixed_ratio"), description="λ rule.")
    pacer: ComponentSpec = Field(default_factory=lambda: spec("baby_step"), description="Curriculum.")
    tie_break: Literal["data_order", "chained"] = Field(
        "data_order",
        description="Rank ties: data_order (each sort starts from data order) or chained (each "
        "sort is stable over the previous one's order, as the official rank.py).",
    )
    groups: ComponentSpec = Field(
        default_factory=lambda: spec("none"),
        description="Grouping of the training samples (none: one group; "
        "field: a sample field such as the task family; kmeans: clusters of the prompts).",
    )
    stratify: bool = Field(
        False,
        description="Apply the selector and the pacer's bins within each group and merge bin b of every "
        "group into stage b (false: one global ranking, the official algorithm).",
    )


class SelectBestConfig(Strict):
    """Keep the best checkpoint of each stage by dev ROUGE-L; the next stage starts from it (official SRD)."""

    enabled: bool = Field(False, description="Select each stage's weights by dev ROUGE-L (false: the last).")
    every: int = Field(
        0,
        ge=0,
        le=MAX_STEPS,
        description="Evaluate the dev set every N steps of a stage (0: at "
        "every epoch end, as the official --eval-interval); the stage's last step is always "
        f"evaluated (≤ {MAX_STEPS:,}).",
    )
    sample: bool = Field(
        False,
        description="Sample at T = 1 (top-p 1, no top-k, seed run.seed) as the official dev evaluation; false: greedy.",
    )
    no_repeat_ngram_size: int = Field(
        0,
        ge=0,
        le=MAX_TOKENS,
        description=f"n-gram blocking of the dev generation (the official dev evaluation sets none; ≤ {MAX_TOKENS:,}).",
    )
    max_samples: int | None = Field(
        None, ge=1, le=MAX_SAMPLES, description=f"Use the first N dev samples only (≤ {MAX_SAMPLES:,})."
    )


class TrainConfig(Strict):
    kd_loss: ComponentSpec = Field(default_factory=lambda: spec("fkl"), description="KD divergence.")
    temperature: ComponentSpec = Field(
        default_factory=lambda: spec("stagewise", start=1.0, end=2.0),
        description="Temperature schedule (default: 1 → 2 spread over the pacer's stages; 1, 1.5, 2 with 3 bins).",
    )
    sft_weight: ComponentSpec = Field(
        default_factory=lambda: spec("stagewise", start=0.3, end=0.1),
        description="SFT weight schedule "
        "(default: 0.3 → 0.1 spread over the pacer's stages; 0.3, 0.2, 0.1 with 3 bins).",
    )
    scale_kd_by_t2: bool | Literal["official"] = Field(
        False,
        description="Multiply the KD term by T² (Hinton et al.); official: only for the losses the official "
        "SRD code scales (fkl, srkl, jsd).",
    )
    teacher_signal: ComponentSpec = Field(
        default_factory=lambda: spec("online"), description="Teacher side of KD: online, or a cache (full, topk)."
    )
    responses: ComponentSpec = Field(
        default_factory=lambda: spec("ground_truth"),
        description="Where each step's KD responses come from: "
        "ground_truth, on_policy (GKD), adaptive (DistiLLM's replay buffer), mixed; SFT stays on the ground truth "
        "unless the source's sft_on is batch.",
    )
    kd_fp32_heads: bool = Field(True, description="LM heads and KD loss in fp32 under any autocast dtype.")
    lr: float = Field(1e-4, gt=0, le=1, description="Peak learning rate (AdamW).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    betas: tuple[Beta, Beta] = Field((0.9, 0.999), description="AdamW betas, each in [0, 1).")
    lr_scheduler: Literal["cosine", "linear", "constant"] = Field("cosine", description="LR decay after warmup.")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="Share of (stage) steps spent warming up.")
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="Final LR as a share of the peak.")
    batch_size: int = Field(8, ge=1, le=MAX_BATCH, description=f"Samples per device per micro-batch (≤ {MAX_BATCH:,}).")
    grad_accum: int = Field(1, ge=1, le=MAX_BATCH, description=f"Micro-batches per optimizer step (≤ {MAX_BATCH:,}).")
    max_grad_norm: float | None = Field(1.0, gt=0, description="Gradient clipping norm (null = off).")
    mixed_precision: Literal["no", "bf16", "fp16"] = Field(
        "no", description="Autocast for the student (an unquoted `no`, which YAML reads as false, is no)."
    )
    gradient_checkpointing: bool = Field(False, description="Trade compute for activation memory.")
    reset_optimizer_per_stage: bool = Field(True, description="Fresh optimizer and LR schedule each stage.")
    kd_chunk_size: int = Field(
        128,
        ge=1,
        le=MAX_KD_CHUNK,
        description="Response tokens per chunk of the vocabulary loss (128: ≤0.25× "
        f"full-logit memory; ≤ {MAX_KD_CHUNK:,}).",
    )
    checkpoint_every: int = Field(
        0, ge=0, le=MAX_STEPS, description=f"Checkpoint every N steps (0: at stage ends only; ≤ {MAX_STEPS:,})."
    )
    checkpoint_minutes: float = Field(
        10.0,
        ge=0,
        le=MAX_MINUTES,
        description="Also checkpoint when this many minutes passed since the last one "
        f"(0: off; ≤ {MAX_MINUTES:,}), so a kill loses little.",
    )
    keep_checkpoints: int = Field(
        2, ge=1, le=MAX_CHECKPOINTS, description=f"Keep only the newest N checkpoints (≤ {MAX_CHECKPOINTS:,})."
    )
    log_every: int = Field(
        10, ge=1, le=MAX_STEPS, description=f"Write metrics.jsonl every N optimizer steps (≤ {MAX_STEPS:,})."
    )
    eval_every: int = Field(
        0, ge=0, le=MAX_STEPS, description=f"Evaluate every N steps during training (0: off; ≤ {MAX_STEPS:,})."
    )
    on_nonfinite: Literal["stop", "skip"] = Field("stop", description="Non-finite loss: stop or skip batch.")
    max_steps: int | None = Field(
        None, ge=1, le=MAX_STEPS, description=f"Hard cap on optimizer steps (debugging; ≤ {MAX_STEPS:,})."
    )
    log_with: list[
        Literal["tensorboard", "wandb", "mlflow", "trackio", "comet_ml", "aim", "clearml", "dvclive", "swanlab"]
    ] = Field(
        default_factory=list,
        description="Experiment trackers (Accelerate's) that get losses, T, SFT weight, LR, "
        "tokens/s and eval scores; files under run_dir/trackers/<label>.",
    )
    select_best: SelectBestConfig = Field(
        default_factory=SelectBestConfig, description="Best-checkpoint selection by dev ROUGE-L within each stage."
    )

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _unquoted_no(cls, value: Any) -> Any:
        return "no" if value is False else value


class BaselineConfig(Strict):
    enabled: bool = Field(True, description="Also train plain KD for comparison in the same run.")
    pacer: ComponentSpec = Field(default_factory=lambda: spec("all"), description="Baseline data pacing.")
    temperature: ComponentSpec = Field(default_factory=lambda: spec("constant", value=1.0))
    sft_weight: ComponentSpec = Field(default_factory=lambda: spec("constant", value=0.2))
    teacher_signal: ComponentSpec = Field(
        default_factory=lambda: spec("online"), description="Teacher side of the baseline's KD (as train's)."
    )
    match_srd_steps: bool = Field(
        False,
        description="Give the baseline as many optimizer steps as SRD (default: its own full budget, "
        "pacer epochs, as the paper compares).",
    )


ARM_NAME = r"^[a-z][a-z0-9_]*$"
RESERVED_ARM_NAMES = frozenset(
    {
        "teacher",
        "student",
        "student_init",
        "prepared",
        "provenance",
        "plots",
        "trackers",
        "teacher_cache",
        "checkpoints",
    }
)
"""Names an arm cannot take: evaluated models other than arms, and run-dir entries other than an arm's folder."""
ARM_TEMPLATES = ("srd", "baseline")
"""What an arm starts from besides another arm: ``srd`` (the curriculum and train sections) or ``baseline``."""
ARM_TEMPLATE_SPECS: dict[str, dict[str, tuple[str, str]]] = {
    "srd": {
        "pacer": ("curriculum", "pacer"),
        "temperature": ("train", "temperature"),
        "sft_weight": ("train", "sft_weight"),
        "teacher_signal": ("train", "teacher_signal"),
    },
    "baseline": {role: ("baseline", role) for role in ("pacer", "temperature", "sft_weight", "teacher_signal")},
}
"""Where each arm template's component specs live in the config."""


class ArmConfig(Strict):
    """One training arm of a run: where it starts from and what it changes (unset fields are inherited)."""

    like: str | None = Field(
        None,
        description="Start from this arm of `arms`, or from a template: srd (curriculum.pacer, "
        "train.temperature, train.sft_weight, train.teacher_signal) or baseline (the baseline section). Default: "
        "the template named like the arm if there is one, else the srd template.",
    )
    pacer: ComponentSpec | None = Field(
        None,
        description="Data pacing (a curation-using pacer trains on the arm's "
        "curation). A spec without `name` ({num_bins: 4}) changes the inherited one.",
    )
    temperature: ComponentSpec | None = Field(
        None, description="Temperature schedule (without `name`: changes the inherited one)."
    )
    sft_weight: ComponentSpec | None = Field(
        None, description="SFT weight schedule (without `name`: changes the inherited one)."
    )
    teacher_signal: ComponentSpec | None = Field(
        None, description="Teacher side of KD: online, or a cache (without `name`: changes the inherited one)."
    )
    curriculum: dict[str, Any] = Field(
        default_factory=dict,
        description="Curriculum fields that differ for this arm (e.g. {stratify: true}; a "
        "component without `name` changes the inherited one); an arm whose curriculum differs from the curriculum "
        "section gets its own curation, curation-<arm>/.",
    )
    match_steps_of: str | None = Field(
        None,
        description="Train as many optimizer steps as this arm (the equal-compute reading), its epochs "
        "rescaled; its own LR schedule over those steps.",
    )


class EvalConfig(Strict):
    max_new_tokens: int | None = Field(
        None,
        ge=1,
        le=MAX_TOKENS,
        description=f"Generation length limit (null: from the data, as reflection.max_new_tokens; ≤ {MAX_TOKENS:,}).",
    )
    batch_size: int = Field(16, ge=1, le=MAX_BATCH, description=f"Prompts generated per batch (≤ {MAX_BATCH:,}).")
    protocol: Literal["greedy", "distillm"] = Field(
        "greedy", description="greedy, or DistiLLM/SRD sampling (T=1, several seeds, mean and sd)."
    )
    seeds: list[Annotated[int, Field(ge=0, lt=2**32)]] = Field(
        default_factory=lambda: [10, 20, 30, 40, 50], min_length=1, description="Seeds (distillm)."
    )
    max_samples: int | None = Field(
        None, ge=1, le=MAX_SAMPLES, description=f"Evaluate on the first N samples only (≤ {MAX_SAMPLES:,})."
    )
    no_repeat_ngram_size: int = Field(
        0,
        ge=0,
        le=MAX_TOKENS,
        description=f"Never repeat an n-gram of this size (0 = off; the official SRD scripts use 6; ≤ {MAX_TOKENS:,}).",
    )
    with_greedy: bool = Field(False, description="distillm: also score one greedy pass (the row's `greedy`).")
    sets: dict[str, ComponentSpec] = Field(
        default_factory=dict,
        description="Named evaluation sets (task specs whose eval split is used) for `srd evaluate-sets`: one "
        "table of every model on every set (e.g. Dolly, S-NI, UnNI, SelfInst, Vicuna).",
    )


class ReportConfig(Strict):
    enabled: bool = Field(True, description="Write report.html and PNG plots.")
    title: str | None = Field(None, description="Report title (default: the run name).")
    warn_group_kept: float = Field(
        0.75,
        ge=0,
        le=1,
        description="Warn when a group keeps less than this share of the overall kept share "
        "(0: never); see docs/curation-groups.md.",
    )
    warn_group_passes: float = Field(
        0.75,
        ge=0,
        le=1,
        description="Warn when SRD's training passes over a group, relative to the baseline's, "
        "fall below this share of the same ratio over all samples (0: never).",
    )


class PresetOverrides(Strict):
    """Size fields that replace a preset's defaults (unset fields keep the preset's value)."""

    hidden_size: int | None = Field(
        None, ge=8, le=MAX_WIDTH, description=f"Hidden size (divisible by num_heads; ≤ {MAX_WIDTH:,})."
    )
    num_layers: int | None = Field(
        None, ge=1, le=MAX_LAYERS, description=f"Number of transformer layers (≤ {MAX_LAYERS:,})."
    )
    num_heads: int | None = Field(None, ge=1, le=MAX_HEADS, description=f"Attention heads (≤ {MAX_HEADS:,}).")
    num_kv_heads: int | None = Field(
        None, ge=1, le=MAX_HEADS, description=f"Key/value heads (default: num_heads; ≤ {MAX_HEADS:,})."
    )
    intermediate_size: int | None = Field(None, ge=1, le=MAX_WIDTH, description=f"MLP inner size (≤ {MAX_WIDTH:,}).")
    tie_word_embeddings: bool | None = Field(None, description="Share input and output embeddings.")
    max_position_embeddings: int | None = Field(
        None, ge=2, le=MAX_TOKENS, description=f"Longest sequence the model accepts (≤ {MAX_TOKENS:,})."
    )


class SFTConfig(Strict):
    """Supervised fine-tuning of a preset model on the training samples (cross-entropy on responses)."""

    steps: int = Field(
        300,
        ge=0,
        le=MAX_STEPS,
        description="Optimizer steps; with `epochs`, at most this many (0: "
        f"keep the random initialisation; ≤ {MAX_STEPS:,}).",
    )
    epochs: float | None = Field(
        None,
        gt=0,
        le=MAX_EPOCHS,
        description="Epochs over the training samples, capped at "
        "`steps`, so that small data trains for seconds (null: exactly `steps` steps; "
        f"≤ {MAX_EPOCHS:,}).",
    )
    batch_size: int = Field(32, ge=1, le=MAX_BATCH, description=f"Samples per step (≤ {MAX_BATCH:,}).")
    lr: float = Field(1e-3, gt=0, le=1, description="Peak learning rate (AdamW, cosine decay).")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Share of steps spent warming up.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float | None = Field(1.0, gt=0, description="Gradient clipping norm (null = off).")

    def steps_for(self, samples: int) -> int:
        """Optimizer steps on ``samples`` training samples: ``epochs`` of them capped at ``steps``, or ``steps``."""
        if self.epochs is None or self.steps == 0:
            return self.steps
        return max(1, min(self.steps, math.ceil(self.epochs * samples / self.batch_size)))


class StudentLMConfig(SFTConfig):
    """Language-model pretraining of the preset student before its warm start (next-token loss on every token)."""

    steps: int = Field(
        400, ge=1, le=MAX_STEPS, description=f"Optimizer steps; with `epochs`, at most this many (≤ {MAX_STEPS:,})."
    )
    corpus: Literal["separate", "joined"] = Field(
        "joined",
        description="The text: `joined` (each prompt followed by its response, one document) or "
        "`separate` (each prompt and each response its own document, so the prompt-to-answer format is never "
        "seen; measured to leave the demo student's answers ungraded, docs/performance.md).",
    )


class PrepareConfig(Strict):
    """The `prepare` phase for `preset` models: tokenizer, teacher SFT, student warm start."""

    vocab_size: int = Field(
        1024, ge=300, le=MAX_VOCAB, description=f"BPE vocabulary size (trained on the training data; ≤ {MAX_VOCAB:,})."
    )
    teacher_arch: PresetOverrides = Field(default_factory=PresetOverrides, description="Teacher size overrides.")
    student_arch: PresetOverrides = Field(default_factory=PresetOverrides, description="Student size overrides.")
    teacher_sft: SFTConfig = Field(
        default_factory=lambda: SFTConfig(steps=300, epochs=10.0),
        description="Teacher SFT (default: 10 epochs, at most 300 steps).",
    )
    student_sft: SFTConfig = Field(
        default_factory=lambda: SFTConfig(steps=40, epochs=5.0),
        description="Student SFT warm start (short, as DistiLLM/SRD; default: 5 epochs, at most 40 steps).",
    )
    student_lm: StudentLMConfig | None = Field(
        None,
        description="Pretrain the preset student as a language model on the training text before its warm "
        "start (null: off), so its reflection answers overlap the references in graded ways.",
    )
    seed: int | None = Field(
        None, ge=0, lt=2**32, description="Initialisation and data-order seed (default: run.seed)."
    )


class SRDConfig(Strict):
    """A whole srd run."""

    run: RunConfig = Field(default_factory=RunConfig)
    teacher: ModelConfig
    student: ModelConfig
    data: DataConfig
    reflection: ReflectionConfig = Field(default_factory=ReflectionConfig)
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    baseline: BaselineConfig = Field(default_factory=BaselineConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    prepare: PrepareConfig = Field(default_factory=PrepareConfig, description="Training of `preset` models.")
    arms: dict[str, ArmConfig] | None = Field(
        None,
        description="The arms the run trains, in order (default: srd, and baseline unless baseline.enabled is "
        "false). Each starts from `like` and changes what it sets; see docs/arms.md.",
    )

    @model_validator(mode="after")
    def _arms_refer_to_arms(self) -> SRDConfig:
        if self.arms is None:
            return self
        if not self.arms:
            raise PydanticCustomError("arms", "arms: list at least one arm (or leave arms out)")

        for name, arm in self.arms.items():
            if not re.match(ARM_NAME, name) or name in RESERVED_ARM_NAMES:
                raise PydanticCustomError(
                    "arms",
                    "arms.{name}: an arm name is lowercase letters, digits and _, "
                    "starting with a letter, and not one of {reserved}",
                    {"name": name, "reserved": ", ".join(sorted(RESERVED_ARM_NAMES))},
                )
            if arm.like is not None and arm.like not in self.arms and arm.like not in ARM_TEMPLATES:
                raise PydanticCustomError(
                    "arms",
                    "arms.{name}.like: {like} is neither an arm of arms ({arms}) nor a template (srd, baseline)",
                    {"name": name, "like": repr(arm.like), "arms": ", ".join(self.arms)},
                )
            target = arm.match_steps_of
            if target is not None and (target not in self.arms or target == name):
                raise PydanticCustomError(
                    "arms",
                    "arms.{name}.match_steps_of: {target} is not another arm of arms ({arms})",
                    {"name": name, "target": repr(target), "arms": ", ".join(self.arms)},
                )
            try:
                CurriculumConfig.model_validate({**self.curriculum.model_dump(mode="json"), **arm.curriculum})
            except ValidationError as exc:
                raise PydanticCustomError(
                    "arms", "arms.{name}.curriculum.{detail}", {"name": name, "detail": format_validation_error(exc)}
                ) from None
        for name in self.arms:  # a `like` chain ends at a template
            seen = [name]
            while (nxt := _like_target(self.arms, seen[-1])) is not None:
                if nxt in seen:
                    raise PydanticCustomError(
                        "arms",
                        "arms.{name}.like: the chain {chain} loops",
                        {"name": name, "chain": " → ".join([*seen, nxt])},
                    )
                seen.append(nxt)
        return self

    @model_validator(mode="after")
    def _dev_split_for_select_best(self) -> SRDConfig:
        if self.train.select_best.enabled and self.data.dev is None and self.data.eval is None:
            raise PydanticCustomError(
                "dev_split",
                "train.select_best.enabled: no dev split distinct from the final eval set; set "
                "data.dev (a task whose eval split is the dev set), or data.eval (then data.train's eval split is "
                "the dev set)",
            )
        return self


def _like_target(arms: dict[str, ArmConfig], name: str) -> str | None:
    """The arm of ``arms`` that arm ``name`` starts from, or ``None`` when it starts from a template."""
    like = arms[name].like
    return like if like is not None and like in arms and like != name else None


# Where component specs live in the config, with their kind.
COMPONENT_FIELDS: list[tuple[tuple[str, ...], str]] = [
    (("data", "train"), "task"),
    (("data", "eval"), "task"),
    (("data", "dev"), "task"),
    (("curriculum", "fusion"), "fusion"),
    (("curriculum", "selector"), "selector"),
    (("curriculum", "pacer"), "pacer"),
    (("curriculum", "groups"), "grouping"),
    (("train", "kd_loss"), "kd_loss"),
    (("train", "temperature"), "schedule"),
    (("train", "sft_weight"), "schedule"),
    (("train", "teacher_signal"), "teacher_signal"),
    (("train", "responses"), "response_source"),
    (("baseline", "teacher_signal"), "teacher_signal"),
    (("baseline", "pacer"), "pacer"),
    (("baseline", "temperature"), "schedule"),
    (("baseline", "sft_weight"), "schedule"),
]


def _component_slots(config: SRDConfig):
    """Yield (path, kind, owner, attribute-or-index) for every component spec in ``config``."""
    for path, kind in COMPONENT_FIELDS:
        owner = config
        for part in path[:-1]:
            owner = getattr(owner, part)
        if getattr(owner, path[-1]) is not None:
            yield ".".join(path), kind, owner, path[-1]
    for i, _ in enumerate(config.curriculum.metrics):
        yield f"curriculum.metrics.{i}", "difficulty_metric", config.curriculum.metrics, i
    for name in config.eval.sets:
        yield f"eval.sets.{name}", "task", config.eval.sets, name
    for name, arm in (config.arms or {}).items():
        for role, kind in ARM_COMPONENTS:
            if getattr(arm, role) is not None:
                yield f"arms.{name}.{role}", kind, arm, role
        for key, value in arm.curriculum.items():  # components among the curriculum overrides
            override_kind = dict(COMPONENT_FIELDS).get(("curriculum", key))
            if override_kind is not None and value is not None:
                arm.curriculum[key] = ComponentSpec.model_validate(value)
                yield f"arms.{name}.curriculum.{key}", override_kind, arm.curriculum, key
            elif key == "metrics" and isinstance(value, list):
                arm.curriculum[key] = [ComponentSpec.model_validate(v) for v in value]
                for i, _ in enumerate(value):
                    yield f"arms.{name}.curriculum.metrics.{i}", "difficulty_metric", arm.curriculum[key], i


ARM_COMPONENTS = (
    ("pacer", "pacer"),
    ("temperature", "schedule"),
    ("sft_weight", "schedule"),
    ("teacher_signal", "teacher_signal"),
)


def resolve_components(config: SRDConfig) -> SRDConfig:
    """Validate every component spec against its plugin's ``Params`` and fill in the defaults."""
    registry = get_registry()
    for path, kind, owner, key in _component_slots(config):
        current: ComponentSpec = owner[key] if isinstance(owner, (list, dict)) else getattr(owner, key)
        try:
            params = registry.validate_params(kind, current.name, current.params)
        except PluginError as exc:
            message = str(exc)
            if message.startswith("unknown "):
                raise ConfigError(f"{path}.name: {message}") from None
            # "fusion 'rrf': k: ..." → "curriculum.fusion.k: ..."
            detail = message.split(": ", 1)[1] if ": " in message else message
            raise ConfigError(f"{path}.{detail}") from None
        resolved = ComponentSpec(name=current.name, **params.model_dump(mode="json"))
        if isinstance(owner, (list, dict)):
            owner[key] = resolved
        else:
            setattr(owner, key, resolved)
    return _spread_schedules(config, registry)


# Each schedule slot and the pacer whose stages it spans.
SCHEDULE_PACERS: list[tuple[str, str, str]] = [
    ("train", "temperature", "curriculum.pacer"),
    ("train", "sft_weight", "curriculum.pacer"),
    ("baseline", "temperature", "baseline.pacer"),
    ("baseline", "sft_weight", "baseline.pacer"),
]


def arm_spec_origin(config: SRDConfig, name: str, role: str) -> tuple[ComponentSpec, str]:
    """The spec arm ``name`` of ``config.arms`` trains with for ``role`` (pacer, temperature, sft_weight,
    teacher_signal) and the config field it comes from: its own entry, its ``like`` chain's, or a template's."""
    arms = config.arms or {}
    while getattr(arms[name], role) is None and (parent := _like_target(arms, name)) is not None:
        name = parent
    if getattr(arms[name], role) is not None:
        return getattr(arms[name], role), f"arms.{name}.{role}"
    template = arms[name].like or (name if name in ARM_TEMPLATES else "srd")
    section, key = ARM_TEMPLATE_SPECS[template][role]
    return getattr(getattr(config, section), key), f"{section}.{key}"


def _planned_stages(registry, pacer: ComponentSpec) -> int | None:
    return registry.build("pacer", pacer.name, pacer.params).planned_stages()


def _spread_arm_schedules(config: SRDConfig, registry) -> None:
    """Spread the arms' start/end schedules over each arm's own stage count: an arm's own schedule, and an
    inherited one whose source spreads it over another stage count (then the arm gets its own copy)."""
    arms = config.arms or {}
    origins = {
        (name, role): arm_spec_origin(config, name, role)  # before any arm's spec is rewritten
        for name in arms
        for role in ("pacer", "temperature", "sft_weight")
    }

    def source_stages(field: str) -> int | None:
        if field.startswith("arms."):
            return _planned_stages(registry, origins[(field.split(".")[1], "pacer")][0])
        pacer_path = {f"{s}.{r}": p for s, r, p in SCHEDULE_PACERS}[field]
        return _planned_stages(registry, getattr(config, pacer_path.split(".")[0]).pacer)

    for name, arm in arms.items():
        stages = _planned_stages(registry, origins[(name, "pacer")][0])
        if stages is None:
            continue
        for role in ("temperature", "sft_weight"):
            current, field = origins[(name, role)]
            schedule = registry.build("schedule", current.name, current.params)
            params = schedule.for_stages(stages)
            if params is None or params == {k: v for k, v in current.params.items() if v is not None}:
                continue  # spelled out already (values): the same for any stage count
            theirs = source_stages(field) if field != f"arms.{name}.{role}" else None
            if theirs is not None and schedule.for_stages(theirs) == params:
                continue  # the source is spread the same way: the arm reads it as it is
            try:
                registry.validate_params("schedule", current.name, params)
            except PluginError as exc:
                raise ConfigError(f"arms.{name}.{role}: {exc}") from None
            setattr(arm, role, ComponentSpec(name=current.name, **params))


def _spread_schedules(config: SRDConfig, registry) -> SRDConfig:
    """Spell every schedule out for its pacer's stage count (``Schedule.for_stages``): ``stagewise`` given
    as ``start``/``end`` (the default) becomes one value per stage, so the default follows ``num_bins`` and
    the resolved config (what provenance records) holds the values trained with."""
    _spread_arm_schedules(config, registry)  # first: they read the sections' specs as written
    for section, role, pacer_path in SCHEDULE_PACERS:
        pacer_spec = getattr(config, pacer_path.split(".")[0]).pacer
        stages = registry.build("pacer", pacer_spec.name, pacer_spec.params).planned_stages()
        current: ComponentSpec = getattr(getattr(config, section), role)
        if stages is None:
            continue
        params = registry.build("schedule", current.name, current.params).for_stages(stages)
        if params is not None:
            try:
                registry.validate_params("schedule", current.name, params)
            except PluginError as exc:
                raise ConfigError(f"{section}.{role}: {exc}") from None
            setattr(getattr(config, section), role, ComponentSpec(name=current.name, **params))
    return config


def _default_node(path: tuple[str, ...]) -> dict[str, Any] | list[Any]:
    """The raw default of a config node missing from a file: a component slot's default spec (or list of
    specs, ``curriculum.metrics``), else ``{}``.

    ``--set curriculum.pacer.num_bins=5`` on a config that leaves the pacer at its default then means
    the default pacer with 5 bins, not a pacer without a name.
    """
    section = SRDConfig.model_fields.get(path[0]) if len(path) == 2 else None
    fields = getattr(section.annotation, "model_fields", {}) if section is not None else {}
    if path[-1] not in fields:
        return {}
    default = fields[path[-1]].get_default(call_default_factory=True)
    if isinstance(default, ComponentSpec):
        return default.model_dump(mode="json")
    if isinstance(default, list) and default and all(isinstance(d, ComponentSpec) for d in default):
        return [d.model_dump(mode="json") for d in default]
    return {}


def _is_component_path(parts: tuple[str, ...]) -> bool:
    """Whether ``parts`` locate a component spec: a slot of ``COMPONENT_FIELDS``, a difficulty metric, an
    eval set."""
    return (
        parts in {p for p, _ in COMPONENT_FIELDS}
        or (len(parts) == 3 and parts[:2] == ("curriculum", "metrics") and parts[2].isdigit())
        or (len(parts) == 3 and parts[:2] == ("eval", "sets"))
    )


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (value parsed as YAML) to a raw config mapping.

    Setting a param of a component (``train.kd_loss.beta=0.2``) merges into its spec: the one in the
    file (also when written as a bare name, ``kd_loss: jsd``), else the default one. Renaming a
    defaulted component (``train.temperature.name=constant``) drops the default's params, which belong
    to the default component, and keeps those set by overrides.
    """
    data = copy.deepcopy(raw)
    defaulted: dict[tuple[str, ...], set[str]] = {}  # spec path → default params no override has set
    default_params: dict[tuple[str, ...], set[str]] = {}  # spec path → every param of the default spec

    def descend(parent: Any, key: str | int, path: tuple[str, ...]) -> Any:
        if isinstance(parent, dict) and key not in parent:
            parent[key] = _default_node(path)
            specs = (
                [(path, parent[key])]
                if isinstance(parent[key], dict)
                else [((*path, str(i)), spec) for i, spec in enumerate(parent[key])]
            )
            for spec_path, spec in specs:
                if "name" in spec:
                    defaulted[spec_path] = set(spec) - {"name"}
                    default_params[spec_path] = set(spec) - {"name"}
        if isinstance(parent[key], str) and _is_component_path(path):  # `kd_loss: fkl` given a param
            parent[key] = {"name": parent[key]}
        return parent[key]

    def assign(parent: Any, key: str | int, path: tuple[str, ...], value: Any) -> None:
        parent_path = path[:-1]
        if parent_path in defaulted:
            if (key == "name" and value != parent.get("name")) or str(key) not in default_params[parent_path]:
                # a new component, or the default one spelled another way (`values` for `start`/`end`)
                for param in defaulted.pop(parent_path):
                    parent.pop(param, None)
            else:
                defaulted[parent_path].discard(str(key))
        for stale in [p for p in defaulted if p[: len(path)] == path]:  # a whole spec replaced
            del defaulted[stale]
        parent[key] = value

    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE")
        key, value_text = item.split("=", 1)
        try:
            value = yaml.load(value_text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: YAML 1.2 floats
        except _DuplicateKey as exc:
            raise ConfigError(f"--set {key}: duplicate key {exc.key!r}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {key}: value is not valid YAML ({exc.__class__.__name__})") from None
        parts = tuple(key.strip().split("."))
        node: Any = data
        for depth, part in enumerate(parts):
            path = parts[: depth + 1]
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"--set {key}: {'.'.join(path)} is not a valid list index")
                index: str | int = int(part)
            elif isinstance(node, dict):
                index = part
            else:
                raise ConfigError(f"--set {key}: {'.'.join(parts[:depth])} is not a mapping")
            if depth == len(parts) - 1:
                assign(node, index, path, value)
            else:
                node = descend(node, index, path)
    return data


def _as_spec(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


def _is_partial(value: Any) -> bool:
    """A component spec without ``name``: params that change the inherited spec."""
    return isinstance(value, dict) and "name" not in value


def _merge(kind: str, base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """``base`` with the params of ``change``; where that is invalid but ``change`` alone is a valid spelling of
    the same component (stagewise ``values`` for an inherited ``start``/``end``), ``change`` alone."""
    merged = {**base, **change}
    registry = get_registry()
    try:
        registry.validate_params(kind, base["name"], {k: v for k, v in merged.items() if k != "name"})
        return merged
    except (PluginError, KeyError):
        pass
    try:
        registry.validate_params(kind, base["name"], dict(change))
    except (PluginError, KeyError):
        return merged  # validation names what is wrong with the merged spec
    return {"name": base["name"], **change}


def inherit_arm_specs(raw: dict[str, Any]) -> dict[str, Any]:
    """Complete the partial component specs of ``arms`` (written without ``name``) from what the arm inherits.

    ``arms.X.pacer: {num_bins: 4}`` (in the file, or ``--set arms.X.pacer.num_bins=4`` on an arm that inherits
    its pacer through ``like``) means the inherited pacer with 4 bins: the ``like`` arm's spec, else the
    template's section (``curriculum.pacer``, ``baseline.pacer``, ...), else its default. The same holds for
    ``temperature``, ``sft_weight``, ``teacher_signal`` and the components among ``arms.X.curriculum``
    (inherited from the ``like`` arm's curriculum overrides, else the ``curriculum`` section). A spec with a
    ``name`` is complete and replaces the inherited one. Malformed entries are left for validation to report.
    """
    arms = raw.get("arms")
    if not isinstance(arms, dict) or not any(isinstance(a, dict) for a in arms.values()):
        return raw
    data = copy.deepcopy(raw)
    arms = data["arms"]
    curriculum_components = {path[1] for path, _ in COMPONENT_FIELDS if path[0] == "curriculum"}

    def like_of(name: str) -> tuple[str | None, str]:
        """(the arm it starts from, or None) and the template its chain would use here."""
        like = arms[name].get("like") if isinstance(arms[name], dict) else None
        if isinstance(like, str) and like in arms and like != name:
            return like, ""
        if isinstance(like, str):
            return None, like
        return None, name if name in ARM_TEMPLATES else "srd"

    def section_value(path: tuple[str, str]) -> Any:
        section = data.get(path[0])
        if isinstance(section, dict) and section.get(path[1]) is not None:
            return copy.deepcopy(_as_spec(section[path[1]]))
        return _default_node(path)

    def inherited(name: str, role: str, seen: tuple[str, ...]) -> Any:
        """The spec arm ``name`` would have for ``role`` if it did not set it (None: unknown, e.g. a loop)."""
        parent, template = like_of(name)
        if parent is not None:
            return None if parent in seen else resolved(parent, role, seen)
        if role.startswith("curriculum."):
            return section_value(("curriculum", role.split(".", 1)[1]))
        paths = ARM_TEMPLATE_SPECS.get(template)
        return section_value(paths[role]) if paths else None

    def resolved(name: str, role: str, seen: tuple[str, ...]) -> Any:
        entry = arms[name] if isinstance(arms[name], dict) else {}
        if role.startswith("curriculum."):
            owner = entry.get("curriculum")
            value = owner.get(role.split(".", 1)[1]) if isinstance(owner, dict) else None
        else:
            value = entry.get(role)
        if value is None:
            return inherited(name, role, (*seen, name))
        if not _is_partial(value):
            return copy.deepcopy(_as_spec(value))
        base = inherited(name, role, (*seen, name))
        return _merge(kinds[role], base, value) if isinstance(base, dict) and "name" in base else value

    kinds = {
        **dict(ARM_COMPONENTS),
        **{f"curriculum.{path[1]}": kind for path, kind in COMPONENT_FIELDS if path[0] == "curriculum"},
    }
    for name, entry in arms.items():
        if not isinstance(entry, dict):
            continue
        roles = [role for role in ARM_TEMPLATE_SPECS["srd"] if _is_partial(entry.get(role))]
        owner = entry.get("curriculum")
        if isinstance(owner, dict):
            roles += [f"curriculum.{key}" for key in curriculum_components if _is_partial(owner.get(key))]
        merged = {role: resolved(name, role, ()) for role in roles}  # all read before any is written
        for role, value in merged.items():
            if role.startswith("curriculum."):
                assert isinstance(owner, dict)  # curriculum roles are listed only when the arm has its own
                owner[role.split(".", 1)[1]] = value
            else:
                entry[role] = value
    return data


class _UniqueKeyLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses a key written twice in one mapping (PyYAML keeps the last silently) and reads
    floats as YAML 1.2 does: ``3e-4``, ``1e5`` and ``.5`` are numbers (PyYAML's 1.1 rules want a dot and a
    signed exponent, and make strings of them)."""


_YAML12_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
"""A float of the YAML 1.2 core schema (``.inf`` / ``.nan`` PyYAML already reads). Integers match too, but the
int resolver comes first; this one only decides what the 1.1 rules leave a string."""

_UniqueKeyLoader.add_implicit_resolver("tag:yaml.org,2002:float", _YAML12_FLOAT, list("-+.0123456789"))


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: construct_mapping reports it
            continue
        if duplicate:
            raise _DuplicateKey(key, key_node.start_mark.line + 1)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int) -> None:
        super().__init__(key, line)
        self.key, self.line = key, line


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping (safe loading, duplicate keys refused); errors name the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at line {line}, offset {exc.start})"
        ) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except _DuplicateKey as exc:
        raise ConfigError(f"{path}: line {exc.line}: duplicate key {exc.key!r}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where}: malformed YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def load_config(path: str | Path, overrides: list[str] | None = None) -> SRDConfig:
    """Load, override, validate and resolve a config file; every error is one ``ConfigError`` line."""
    path = Path(path)
    raw = inherit_arm_specs(apply_overrides(read_yaml(path), overrides or []))
    try:
        config = SRDConfig.model_validate(raw)
        return resolve_components(config)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {format_validation_error(exc, model=SRDConfig)}") from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def config_from_dict(raw: dict[str, Any]) -> SRDConfig:
    """Validate and resolve a config given as a mapping (tests, notebooks)."""
    try:
        return resolve_components(SRDConfig.model_validate(inherit_arm_specs(raw)))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, model=SRDConfig)) from None


def dump_config(config: SRDConfig) -> str:
    """The fully resolved config as YAML (defaults included)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
