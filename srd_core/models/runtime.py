"""Teacher and student for distillation: loading, freezing, hidden states without logits, precision."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from srd_core.config import SRDConfig
from srd_core.launcher import drop_malformed_world_size
from srd_core.models.loading import attach_lora, check_vocabularies, load_causal_lm, load_tokenizer, resolve_model_path

logger = logging.getLogger(__name__)


def causal_lm_core(model: torch.nn.Module) -> Any:
    """The underlying ``*ForCausalLM`` of a model (unwraps PEFT models); typed ``Any``, as its methods
    (``get_output_embeddings``, ``base_model``, ...) are the model class's, not ``torch.nn.Module``'s."""
    get_base_model = getattr(model, "get_base_model", None)
    return get_base_model() if get_base_model is not None else model


def last_hidden_state(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Final hidden states ``[B, T, H]`` of any HF causal LM (the LM head's input), without logits."""
    lm = causal_lm_core(model)
    backbone = lm.base_model
    if backbone is not lm:
        return backbone(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    out = lm(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True, use_cache=False)
    return out.hidden_states[-1]


class HiddenStates(torch.nn.Module):
    """The student as a module whose forward returns final hidden states (what DDP wraps)."""

    def __init__(self, lm: torch.nn.Module) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return last_hidden_state(self.lm, input_ids, attention_mask)


def load_models(config: SRDConfig, run_dir: Path, teacher, student_path: str | Path | None, load_teacher: bool = True):
    """(student, tokenizer, teacher) as configured; ``teacher`` may be given as a model or a path.

    With ``load_teacher=False`` (a cached teacher signal) the teacher is None.
    """
    s_path = str(student_path) if student_path is not None else resolve_model_path(config.student, run_dir, "student")
    tokenizer = load_tokenizer(config.student, s_path, "student")
    student = load_causal_lm(config.student, s_path, "student")
    if config.student.lora is not None:
        student = attach_lora(student, config.student.lora)
    if not load_teacher:
        return student, tokenizer, None
    if teacher is None or isinstance(teacher, (str, Path)):
        t_path = str(teacher) if teacher is not None else resolve_model_path(config.teacher, run_dir, "teacher")
        teacher = load_causal_lm(config.teacher, t_path, "teacher")
        # White-box KD needs one vocabulary: a different tokenizer is a clear error, padded heads are fine.
        check_vocabularies(load_tokenizer(config.teacher, t_path, "teacher"), tokenizer, teacher, student)
    return student, tokenizer, teacher


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    """Eval mode and no gradients (the teacher)."""
    model.eval()
    model.requires_grad_(False)
    return model


def resolve_mixed_precision(requested: str) -> str:
    """The autocast mode the device supports: bf16 on CPU and recent GPUs, fp16 on GPUs only."""
    if requested == "no":
        return "no"
    if torch.cuda.is_available():
        if requested == "bf16" and not torch.cuda.is_bf16_supported():
            logger.warning("train.mixed_precision=bf16: this GPU has no bf16; training in fp32")
            return "no"
        return requested
    if requested == "fp16":
        logger.warning("train.mixed_precision=fp16 needs a GPU; training in fp32")
        return "no"
    return requested


def shared_vocab(tokenizer, student_head: torch.nn.Linear, teacher_head: torch.nn.Linear) -> int | None:
    """The vocabulary both LM heads cover when their sizes differ (padded embeddings), else None."""
    if student_head.out_features == teacher_head.out_features:
        return None
    return min(len(tokenizer), student_head.out_features, teacher_head.out_features)


def no_accelerator() -> bool:
    """True when only the CPU is there (Accelerate then needs ``cpu=True`` to go multi-process with gloo)."""
    from accelerate.utils import is_mps_available, is_npu_available, is_xpu_available  # deferred: accelerate

    return not (torch.cuda.is_available() or is_xpu_available() or is_npu_available() or is_mps_available())


def make_accelerator(mixed_precision: str, **kwargs):
    """The ``Accelerator`` of a training run, in the autocast mode the device supports.

    Accelerate keeps one process-wide state; if an earlier ``Accelerator`` in this process (another
    phase, another library's trainer) fixed a different precision, that state is replaced.
    """
    from accelerate import Accelerator  # deferred: accelerate
    from accelerate.state import AcceleratorState  # deferred: accelerate

    precision = resolve_mixed_precision(mixed_precision)
    earlier = AcceleratorState._shared_state.get("_mixed_precision")
    if earlier is not None and str(earlier) != precision:
        AcceleratorState._reset_state()  # keeps the process group (PartialState)
    drop_malformed_world_size()
    return Accelerator(mixed_precision=precision, cpu=no_accelerator(), **kwargs)  # kwargs: log_with, project_dir


def enable_activation_checkpointing(model: torch.nn.Module) -> None:
    """Recompute activations in the backward pass (non-reentrant), under either transformers API name."""
    lm = causal_lm_core(model)
    kwargs = {"use_reentrant": False}
    if hasattr(lm, "activation_checkpointing_enable"):  # transformers >= 5.x
        lm.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
