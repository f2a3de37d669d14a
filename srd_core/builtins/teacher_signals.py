"""Built-in teacher signals: the online teacher, a full logit cache, and a top-k cache with a tail bucket.

``topk`` stores per response position the k largest raw teacher logits, their vocabulary indices and,
for each temperature the plan needs, the log-sum-exp of the other ``V − k`` logits divided by T (the
tail bucket at T). Teacher and student are then compared on ``k + 1`` categories: the teacher's k
tokens and "everything else", whose student probability is the student's mass outside those k tokens.
The (k+1)-category teacher distribution is exact at every stored T; the KD loss on it differs from
the full-vocabulary loss only by how the tail's mass is spread (see docs/teacher-cache.md). With more
distinct temperatures than ``tail_grid`` (per-step schedules), the tail is stored at ``tail_grid``
temperatures evenly spaced in β = 1/T together with its slope in β (the tail's mean logit at that
T), and cubic Hermite interpolation in β gives it in between (error measured in docs/teacher-cache.md).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from srd_core.components import TeacherSignal
from srd_core.hookspecs import hookimpl
from srd_core.lazy import LazyModule
from srd_core.limits import MAX_VOCAB

if TYPE_CHECKING:
    import torch
    import torch.nn.functional as F
else:
    torch = LazyModule("torch")  # imported when a signal first runs, not when plugins load
    F = LazyModule("torch.nn.functional")


def dense_log_probs(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """fp32 log-softmaxes of both logits divided by ``temperature`` (every vocabulary entry a category)."""
    import torch.nn.functional as F  # deferred: torch

    student = student_logits.float()
    teacher = teacher_logits.float()
    if temperature != 1.0:
        student, teacher = student / temperature, teacher / temperature
    return F.log_softmax(student, dim=-1), F.log_softmax(teacher, dim=-1)


class Online(TeacherSignal):
    """The teacher model runs at every step (no cache): today's behaviour and the default."""

    cached = False

    def fields(self, vocab_size, temperatures):
        return {}

    def encode(self, logits, temperatures):
        return {}

    def log_probs(self, student_logits, rows, temperature, temperatures):
        return dense_log_probs(student_logits, rows["logits"], temperature)


class FullParams(BaseModel):
    """Parameters of the full logit cache."""

    model_config = ConfigDict(extra="forbid")

    dtype: Literal["float32", "float16", "bfloat16"] = Field(
        "float32", description="Storage dtype of the logits (float32 is exact; 16-bit halves the cache)."
    )


class Full(TeacherSignal):
    """Every teacher logit at every response position: exact at any temperature (V values per token)."""

    Params = FullParams
    params: FullParams

    def fields(self, vocab_size, temperatures):
        # numpy has no bfloat16: bf16 rows are stored as their raw 16 bits (int16)
        return {"logits": ("int16" if self.params.dtype == "bfloat16" else self.params.dtype, vocab_size)}

    def encode(self, logits, temperatures):
        rows = logits.to(getattr(torch, self.params.dtype))
        return {"logits": rows.view(torch.int16) if self.params.dtype == "bfloat16" else rows}

    def log_probs(self, student_logits, rows, temperature, temperatures):
        import torch  # deferred: torch

        teacher = rows["logits"]
        if self.params.dtype == "bfloat16":
            teacher = teacher.view(torch.bfloat16)
        return dense_log_probs(student_logits, teacher, temperature)


class TopKParams(BaseModel):
    """Parameters of the top-k logit cache."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(
        32,
        ge=1,
        le=MAX_VOCAB,
        description=f"Teacher logits kept per position (the rest becomes one tail bucket; ≤ {MAX_VOCAB:,}).",
    )
    tail_grid: int = Field(
        8,
        ge=2,
        le=64,
        description="Most temperatures stored for the tail bucket; a plan "
        "with more distinct T stores this many, evenly spaced in 1/T, and interpolates (≤ 64).",
    )
    dtype: Literal["float32", "float16"] = Field("float32", description="Storage dtype of the top-k logits.")


class TopK(TeacherSignal):
    """The k largest teacher logits, their indices, and the tail's log-sum-exp at each needed temperature."""

    Params = TopKParams
    params: TopKParams
    uses_temperatures = True

    def stored_temperatures(self, temperatures: Sequence[float]) -> list[float]:
        distinct = sorted({round(float(t), 6) for t in temperatures})
        if not distinct:
            return [1.0]
        if len(distinct) <= self.params.tail_grid:
            return distinct
        lo, hi = 1.0 / distinct[-1], 1.0 / distinct[0]
        n = self.params.tail_grid
        return sorted(1.0 / (lo + (hi - lo) * i / (n - 1)) for i in range(n))

    def gridded(self, temperatures: Sequence[float]) -> bool:
        """True when ``temperatures`` is an interpolation grid: ``tail_grid`` points evenly spaced in 1/T."""
        if len(temperatures) != self.params.tail_grid:
            return False
        betas = sorted(1.0 / t for t in temperatures)
        step = (betas[-1] - betas[0]) / (len(betas) - 1)
        return step > 0 and all(math.isclose(b - a, step, rel_tol=1e-6) for a, b in itertools.pairwise(betas))

    def fields(self, vocab_size, temperatures):
        if self.params.k >= vocab_size:
            raise ValueError(f"k: {self.params.k} must be below the vocabulary size {vocab_size} (use `full`)")
        index_dtype = "int16" if vocab_size <= 65536 else "int32"  # int16 holds uint16 bits
        fields = {
            "values": (self.params.dtype, self.params.k),
            "indices": (index_dtype, self.params.k),
            "tail": ("float32", len(temperatures)),
        }
        if self.gridded(temperatures):
            fields["tail_slope"] = ("float32", len(temperatures))
        return fields

    def encode(self, logits, temperatures):
        import torch  # deferred: torch

        values, indices = logits.float().topk(self.params.k, dim=-1)
        rest = logits.float().scatter(-1, indices, float("-inf"))
        tail = torch.stack([torch.logsumexp(rest / t, dim=-1) for t in temperatures], dim=-1)
        index_dtype = torch.int16 if logits.shape[-1] <= 65536 else torch.int32  # uint16 bits via int16
        rows = {
            "values": values.to(getattr(torch, self.params.dtype)),
            "indices": indices.to(index_dtype),
            "tail": tail,
        }
        if self.gridded(temperatures):  # d/dβ logsumexp(β·z) = the mean tail logit under softmax(β·z)
            finite = torch.where(torch.isinf(rest), 0.0, rest)
            rows["tail_slope"] = torch.stack(
                [(torch.softmax(rest / t, dim=-1) * finite).sum(-1) for t in temperatures], dim=-1
            )
        return rows

    def log_probs(self, student_logits, rows, temperature, temperatures):
        import torch  # deferred: torch
        import torch.nn.functional as F  # deferred: torch

        indices = rows["indices"]
        if indices.dtype == torch.int16:
            indices = indices.to(torch.int32) & 0xFFFF  # the stored uint16 bits
        indices = indices.long()
        student = student_logits.float() / temperature
        student_cats = torch.cat(
            [
                student.gather(-1, indices),
                torch.logsumexp(student.scatter(-1, indices, float("-inf")), dim=-1, keepdim=True),
            ],
            dim=-1,
        )
        teacher_cats = torch.cat(
            [
                rows["values"].float() / temperature,
                tail_at(rows["tail"].float(), temperatures, temperature, rows.get("tail_slope")).unsqueeze(-1),
            ],
            dim=-1,
        )
        return F.log_softmax(student_cats, dim=-1), F.log_softmax(teacher_cats, dim=-1)


def tail_at(
    tail: torch.Tensor, temperatures: Sequence[float], temperature: float, slope: torch.Tensor | None = None
) -> torch.Tensor:
    """The tail log-sum-exp ``[n]`` at ``temperature``: a stored column, or interpolated in β = 1/T.

    With ``slope`` (d/dβ at each stored T) the interpolation is cubic Hermite, else linear.
    """
    for i, t in enumerate(temperatures):
        if math.isclose(t, temperature, rel_tol=1e-6):
            return tail[:, i]
    betas = [1.0 / t for t in reversed(temperatures)]  # ascending β
    beta = 1.0 / temperature
    if not betas[0] <= beta <= betas[-1]:
        raise ValueError(
            f"temperature {temperature} is outside the cached range "
            f"[{min(temperatures)}, {max(temperatures)}]; rebuild the teacher cache"
        )
    hi = min(bisect.bisect_left(betas, beta), len(betas) - 1)
    lo = hi - 1
    h = betas[hi] - betas[lo]
    w = (beta - betas[lo]) / h
    n = len(temperatures) - 1
    f0, f1 = tail[:, n - lo], tail[:, n - hi]
    if slope is None:
        return (1.0 - w) * f0 + w * f1
    d0, d1 = slope[:, n - lo].float(), slope[:, n - hi].float()
    return (
        (2 * w**3 - 3 * w**2 + 1) * f0
        + (w**3 - 2 * w**2 + w) * h * d0
        + (-2 * w**3 + 3 * w**2) * f1
        + (w**3 - w**2) * h * d1
    )


@hookimpl
def register_teacher_signals(register):
    """Register the built-in components of this family."""
    register("online", Online)
    register("full", Full)
    register("topk", TopK)
