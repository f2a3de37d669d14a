"""Compute in FLOPs, from parameter counts and the tokens a phase actually processed.

The usual transformer estimate (Kaplan et al. 2020, "Scaling laws", §2.1): a forward pass costs
``2·N`` FLOPs per token and a forward + backward pass ``6·N``. Here ``N`` is **every parameter of
the model, tied weights counted once** (``sum(p.numel() for p in model.parameters())``), not Kaplan's
non-embedding count: at the sizes srd trains on a CPU (a 1024-token vocabulary, hidden sizes of
64–256) the output head is a large share of the work per token and a tied embedding *is* that head,
so leaving embeddings out would understate the student against the teacher. Attention's ``n_ctx``
term, recomputation under gradient checkpointing, padding, and evaluation during training are not
counted (model FLOPs, as MFU counts them). A LoRA student is counted as full fine-tuning (an upper
bound: its frozen weights get no weight gradients).

What each phase is charged:

* training an arm: ``6·N_student`` per token the student trained on (prompt + response, no padding)
  plus ``2·N_teacher`` per token the online teacher ran on (none with a cached teacher signal, none
  at SFT weight 1, where the teacher is skipped);
* building a teacher cache: ``2·N_teacher`` per token of the cached samples, once for the run;
* reflection: ``2·N_student`` per token of generation (prompt + generated tokens) and per token of
  the cross-entropy pass (prompt + reference response), once for the run.
"""

from __future__ import annotations

FORWARD_FLOPS_PER_PARAM = 2
"""FLOPs per parameter per token of a forward pass (one multiply-add)."""
TRAIN_FLOPS_PER_PARAM = 6
"""FLOPs per parameter per token of a forward and a backward pass (the backward costs two forwards)."""


def parameter_count(model) -> int:
    """Every parameter of ``model`` (a torch module), tied weights once: the ``N`` of the FLOPs estimate."""
    return int(sum(p.numel() for p in model.parameters()))


def forward_flops(params: int, tokens: int) -> int:
    """FLOPs of forward passes over ``tokens`` tokens of a model with ``params`` parameters."""
    return FORWARD_FLOPS_PER_PARAM * int(params) * int(tokens)


def train_flops(params: int, tokens: int) -> int:
    """FLOPs of forward + backward passes over ``tokens`` tokens of a model with ``params`` parameters."""
    return TRAIN_FLOPS_PER_PARAM * int(params) * int(tokens)


def kd_training_flops(student_params: int, student_tokens: int, teacher_params: int, teacher_tokens: int) -> int:
    """An arm's training compute: the student's forward + backward and the online teacher's forward."""
    return train_flops(student_params, student_tokens) + forward_flops(teacher_params, teacher_tokens)


def format_flops(value: float | None) -> str:
    """``3.1e12`` style with an SI unit: ``3.10 TFLOP``; ``—`` for ``None``."""
    if value is None:
        return "—"
    for unit, scale in (("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6)):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.0f} FLOP"
