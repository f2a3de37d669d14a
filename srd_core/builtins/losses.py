"""Built-in KD losses: per-token divergences between teacher (p) and student (q) distributions.

Every loss maps fp32 log-probs ``[N, V]`` to a per-token value ``[N]``. Entries whose log-prob is
``-inf`` (masked vocabulary, probability 0) contribute 0 and receive a zero gradient: log-probs are
clamped to the most negative finite float before use, so ``0·(−inf)`` never turns into NaN in the
forward or the backward pass.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from srd_core.components import KDLoss
from srd_core.hookspecs import hookimpl
from srd_core.lazy import LazyModule

if TYPE_CHECKING:  # torch is imported where it is used: `srd --help` loads this module
    import torch
else:
    torch = LazyModule("torch")  # imported when a loss first runs, not when plugins load


def finite_logp(logp: torch.Tensor) -> torch.Tensor:
    """``logp`` with ``-inf`` replaced by the most negative finite value (its gradient there is 0)."""
    import torch  # deferred: torch

    return logp.clamp(min=torch.finfo(logp.dtype).min)


def kl_per_token(logp_a: torch.Tensor, logp_b: torch.Tensor) -> torch.Tensor:
    """``KL(a‖b) = Σ_v a_v (log a_v − log b_v)`` per row, from finite log-probs (see ``finite_logp``).

    Entries with ``a_v = 0`` add exactly 0: the difference of finite log-probs is finite.
    """
    return (logp_a.exp() * (logp_a - logp_b)).sum(dim=-1)


def log_mixture(logp_a: torch.Tensor, logp_b: torch.Tensor, weight_a: float) -> torch.Tensor:
    """``log(w·a + (1−w)·b)`` from finite log-probs, computed in log space (``logaddexp``)."""
    import torch  # deferred: torch

    if weight_a <= 0.0:
        return logp_b
    if weight_a >= 1.0:
        return logp_a
    return torch.logaddexp(logp_a + math.log(weight_a), logp_b + math.log1p(-weight_a))


class ForwardKL(KDLoss):
    """Forward KL, ``KL(p‖q)``: mean-seeking; the classic KD loss (Hinton et al.)."""

    official_t2_scaling = True  # tem_forward_kl multiplies by T²

    def token_loss(self, student_logp: torch.Tensor, teacher_logp: torch.Tensor) -> torch.Tensor:
        return kl_per_token(finite_logp(teacher_logp), finite_logp(student_logp))


class ReverseKL(KDLoss):
    """Reverse KL, ``KL(q‖p)``: mode-seeking (MiniLLM)."""

    def token_loss(self, student_logp: torch.Tensor, teacher_logp: torch.Tensor) -> torch.Tensor:
        return kl_per_token(finite_logp(student_logp), finite_logp(teacher_logp))


class SkewParams(BaseModel):
    """Parameters of the skewed KL losses."""

    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="Skew α: share of the mixture taken from the "
        "distribution being compared (DistiLLM uses 0.1; 0 gives the plain KL).",
    )


class SkewedForwardKL(KDLoss):
    """Skewed forward KL (DistiLLM), ``KL(p ‖ αp + (1−α)q)``."""

    Params = SkewParams
    params: SkewParams

    def token_loss(self, student_logp: torch.Tensor, teacher_logp: torch.Tensor) -> torch.Tensor:
        teacher, student = finite_logp(teacher_logp), finite_logp(student_logp)
        return kl_per_token(teacher, log_mixture(teacher, student, self.params.alpha))


class SkewedReverseKL(KDLoss):
    """Skewed reverse KL (DistiLLM), ``KL(q ‖ (1−α)p + αq)``."""

    official_t2_scaling = True  # tem_skewed_reverse_kl multiplies by T²

    Params = SkewParams
    params: SkewParams

    def token_loss(self, student_logp: torch.Tensor, teacher_logp: torch.Tensor) -> torch.Tensor:
        teacher, student = finite_logp(teacher_logp), finite_logp(student_logp)
        return kl_per_token(student, log_mixture(student, teacher, self.params.alpha))


class JSDParams(BaseModel):
    """Parameters of the generalized Jensen–Shannon divergence."""

    model_config = ConfigDict(extra="forbid")

    beta: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Interpolation β as in TRL's GKD: 0 gives forward "
        "KL, 1 gives reverse KL, 0.5 the symmetric JSD; the official SRD/DistiLLM `tjsd` is 0.1 "
        "(its lam = 0.9 weights the student).",
    )


class GeneralizedJSD(KDLoss):
    """Generalized JSD as TRL's ``GKDTrainer.generalized_jsd_loss`` (Agarwal et al., GKD).

    With ``m = βp + (1−β)q``: ``β·KL(p‖m) + (1−β)·KL(q‖m)``; β = 0 is ``KL(p‖q)`` and β = 1 is
    ``KL(q‖p)`` (TRL's special cases).
    """

    Params = JSDParams
    params: JSDParams
    official_t2_scaling = True  # tem_js_distance multiplies by T² (its lam = 0.9 is beta = 0.1 here)

    def token_loss(self, student_logp: torch.Tensor, teacher_logp: torch.Tensor) -> torch.Tensor:
        teacher, student = finite_logp(teacher_logp), finite_logp(student_logp)
        beta = self.params.beta
        if beta == 0.0:
            return kl_per_token(teacher, student)
        if beta == 1.0:
            return kl_per_token(student, teacher)
        mixture = log_mixture(teacher, student, beta)
        return beta * kl_per_token(teacher, mixture) + (1.0 - beta) * kl_per_token(student, mixture)


class TotalVariation(KDLoss):
    """Total variation distance, ``½ Σ_v |p_v − q_v|``."""

    def token_loss(self, student_logp: torch.Tensor, teacher_logp: torch.Tensor) -> torch.Tensor:
        return 0.5 * (student_logp.exp() - teacher_logp.exp()).abs().sum(dim=-1)


class AKLParams(BaseModel):
    """Parameters of the adaptive KL."""

    model_config = ConfigDict(extra="forbid")

    mu: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Cumulative teacher mass μ that separates the head "
        "(the most likely tokens up to μ, always at least one) from the tail.",
    )


class AdaptiveKL(KDLoss):
    """Adaptive KL (Wu et al. 2024, "Rethinking KL Divergence in KD for LLMs").

    The teacher's vocabulary is split into a head (top tokens up to cumulative mass μ) and a tail.
    The gaps ``g_head = Σ_head |p − q|`` and ``g_tail = Σ_tail |p − q|`` (detached) weight the two
    KLs per token: ``(g_head·FKL + g_tail·RKL) / (g_head + g_tail)``.
    """

    Params = AKLParams
    params: AKLParams

    def token_loss(self, student_logp: torch.Tensor, teacher_logp: torch.Tensor) -> torch.Tensor:
        teacher, student = finite_logp(teacher_logp), finite_logp(student_logp)
        head_weight, tail_weight = self.gap_weights(teacher.detach().exp(), student.detach().exp())
        return head_weight * kl_per_token(teacher, student) + tail_weight * kl_per_token(student, teacher)

    def gap_weights(
        self, teacher_probs: torch.Tensor, student_probs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token normalised head and tail gaps ``[N]`` (both 0.5 where p == q)."""
        import torch  # deferred: torch

        sorted_teacher, order = teacher_probs.sort(dim=-1, descending=True)
        gaps = (sorted_teacher - student_probs.gather(-1, order)).abs()
        # Head: tokens before the cumulative mass exceeds mu; the top token is always in the head.
        in_head = sorted_teacher.cumsum(dim=-1) <= self.params.mu
        in_head[..., 0] = True
        head_gap = torch.where(in_head, gaps, 0.0).sum(dim=-1)
        total = gaps.sum(dim=-1)
        safe_total = torch.where(total > 0, total, 1.0)
        head_weight = torch.where(total > 0, head_gap / safe_total, 0.5)
        return head_weight, 1.0 - head_weight


@hookimpl
def register_kd_losses(register):
    """Register the built-in components of this family."""
    register("fkl", ForwardKL)
    register("rkl", ReverseKL)
    register("skl", SkewedForwardKL)
    register("srkl", SkewedReverseKL)
    register("jsd", GeneralizedJSD)
    register("tvd", TotalVariation)
    register("akl", AdaptiveKL)
