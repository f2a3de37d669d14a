"""The distillation loss of the training loop: SFT cross-entropy plus a KD divergence, chunked over tokens.

``distill_loss`` never materialises ``[N, V]`` logits for all ``N`` response tokens at once: an
``autograd.Function`` walks the tokens in chunks, computes each chunk's loss *and* its gradients
with respect to the chunk's student hidden states and the LM-head parameters, accumulates them,
and only scales them by the incoming gradient in ``backward`` (the Liger-kernel approach). The
peak extra memory is a few ``[chunk_size, V]`` fp32 buffers (about 8–13, depending on the loss)
plus two ``[V, H]`` buffers: the fp32 gradient sum of the head and one chunk's gradient.
``distill_loss_reference`` computes the same thing over full logits with plain autograd.

The teacher side is either the teacher's hidden states and LM head (online) or a ``CachedTeacher``:
a teacher signal and a function returning its stored rows for a range of tokens, read one chunk at
a time (a memory-mapped cache is never read whole). Both heads run in fp32 whatever the autocast
dtype (``fp32_heads``, the default), so bf16 autocast does not round the KD logits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from srd_core.components import KDLoss, TeacherSignal
from srd_core.config import TrainConfig

DEFAULT_CHUNK_SIZE: int = TrainConfig.model_fields["kd_chunk_size"].default
"""Tokens per chunk (``train.kd_chunk_size``'s default, defined there only): at vocab 32k-128k the peak stays
under a quarter of the naive loss's (see benchmarks/kd_loss_memory.py); larger chunks trade memory for fewer,
larger matmuls."""


@dataclass
class DistillLossOutput:
    """The combined loss (with grad) and its detached parts."""

    loss: torch.Tensor
    """Scalar with grad: ``sft_weight·ce + (1 − sft_weight)·kd``."""
    ce: torch.Tensor
    """Scalar, detached: the student's cross-entropy on the labels at T = 1."""
    kd: torch.Tensor
    """Scalar, detached: the KD divergence (after the optional T² scaling)."""
    n_tokens: int


@dataclass(frozen=True)
class CachedTeacher:
    """The teacher side of the loss served from a cache: ``rows(start, stop)`` gives tokens start:stop."""

    signal: TeacherSignal
    rows: Callable[[int, int], Mapping[str, torch.Tensor]]
    temperatures: Sequence[float]
    """The temperatures the rows were stored for (see ``TeacherSignal.stored_temperatures``)."""
    vocab_size: int
    """Vocabulary the cached rows cover (the teacher's cut head)."""


@dataclass(frozen=True)
class _Setup:
    """Everything except tensors that the loss needs, shared by the chunked and reference paths."""

    kd_loss: KDLoss
    temperature: float
    sft_weight: float
    kd_scale: float
    vocab_size: int
    use_teacher: bool
    cached: CachedTeacher | None = None
    fp32_heads: bool = True


def _setup(
    student_head: torch.nn.Linear,
    teacher_hidden: torch.Tensor | None,
    teacher_head: torch.nn.Linear | None,
    kd_loss: KDLoss,
    temperature: float,
    sft_weight: float,
    vocab_size: int | None,
    scale_by_t2: bool,
    cached: CachedTeacher | None = None,
    fp32_heads: bool = True,
) -> _Setup:
    """Validate the arguments and derive the effective vocabulary and weights."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0.0 <= sft_weight <= 1.0:
        raise ValueError(f"sft_weight must be in [0, 1], got {sft_weight}")
    if cached is not None and (teacher_hidden is not None or teacher_head is not None):
        raise ValueError("give either teacher_hidden and teacher_head, or cached, not both")
    use_teacher = (teacher_hidden is not None and teacher_head is not None) or cached is not None
    if not use_teacher and sft_weight < 1.0:
        raise ValueError("teacher_hidden and teacher_head (or cached) are required unless sft_weight == 1")
    teacher_vocab = (
        cached.vocab_size
        if cached is not None
        else teacher_head.out_features
        if use_teacher and teacher_head is not None
        else 0
    )
    vocab = student_head.out_features
    if use_teacher:
        vocab = min(vocab, teacher_vocab)
    if vocab_size is not None:
        if vocab_size < 1 or vocab_size > vocab:
            raise ValueError(f"vocab_size {vocab_size} must be in [1, {vocab}] (the smaller LM head)")
        vocab = vocab_size
    elif use_teacher and teacher_vocab != student_head.out_features:
        raise ValueError(
            f"student ({student_head.out_features}) and teacher ({teacher_vocab}) LM heads "
            "differ in size: pass vocab_size (the shared tokenizer's vocabulary)"
        )
    kd_scale = temperature**2 if scale_by_t2 else 1.0
    return _Setup(
        kd_loss, float(temperature), float(sft_weight), kd_scale, vocab, use_teacher, cached, bool(fp32_heads)
    )


def _precision(device: torch.device, fp32: bool):
    """Autocast off (fp32 heads and loss) or left as the caller set it."""
    return torch.autocast(device.type, enabled=False) if fp32 else nullcontext()


def _head_logits(
    hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, fp32: bool = True
) -> torch.Tensor:
    """fp32 logits of a (possibly cut) LM head; with ``fp32`` the matmul itself runs in fp32."""
    if fp32:
        with torch.autocast(hidden.device.type, enabled=False):
            return F.linear(hidden.float(), weight.float(), None if bias is None else bias.float())
    return F.linear(hidden, weight, bias).float()


def _teacher_logp(
    hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, temperature: float, fp32: bool = True
) -> torch.Tensor:
    """fp32 teacher log-probs at ``temperature``, without grad and with no other ``[n, V]`` left alive."""
    with torch.no_grad():
        logits = _head_logits(hidden, weight, bias, fp32)
        if temperature != 1.0:
            logits.div_(temperature)  # a fresh tensor: safe to scale in place
        return F.log_softmax(logits, dim=-1)


def _cached_rows(setup: _Setup, start: int, stop: int) -> dict[str, torch.Tensor]:
    """The cached teacher rows of tokens start:stop, cut to the shared vocabulary where dense."""
    assert setup.cached is not None
    rows = dict(setup.cached.rows(start, stop))
    if "logits" in rows and rows["logits"].shape[-1] != setup.vocab_size:
        rows["logits"] = rows["logits"][:, : setup.vocab_size]
    return rows


def _loss_sums(
    student_logits: torch.Tensor,
    teacher_logp: torch.Tensor | None,
    labels: torch.Tensor,
    setup: _Setup,
    cached_rows: Mapping[str, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed (not averaged) student CE at T = 1 and KD divergence at T over the given tokens (fp32)."""
    if cached_rows is not None:
        assert setup.cached is not None  # the rows came from it
        ce_sum = F.cross_entropy(student_logits, labels, reduction="sum")
        student_logp, cached_logp = setup.cached.signal.log_probs(
            student_logits, cached_rows, setup.temperature, setup.cached.temperatures
        )
        return ce_sum, setup.kd_loss.token_loss(student_logp, cached_logp).sum()
    if teacher_logp is None:
        return F.cross_entropy(student_logits, labels, reduction="sum"), student_logits.new_zeros(())
    if setup.temperature == 1.0:
        student_logp = F.log_softmax(student_logits, dim=-1)
        ce_sum = F.nll_loss(student_logp, labels, reduction="sum")
    else:
        ce_sum = F.cross_entropy(student_logits, labels, reduction="sum")
        student_logp = F.log_softmax(student_logits / setup.temperature, dim=-1)
    kd_sum = setup.kd_loss.token_loss(student_logp, teacher_logp).sum()
    return ce_sum, kd_sum


def _combine(ce_sum: torch.Tensor, kd_sum: torch.Tensor, n_tokens: int, setup: _Setup) -> torch.Tensor:
    """``(w·ce + (1 − w)·scale·kd) / N`` from summed parts."""
    kd_part = (1.0 - setup.sft_weight) * setup.kd_scale * kd_sum if setup.use_teacher else 0.0
    return (setup.sft_weight * ce_sum + kd_part) / n_tokens


class _RowGradSum:
    """Sum over chunks of the gradient of a parameter's first rows, in fp32, in the parameter's shape."""

    def __init__(self, param: torch.Tensor) -> None:
        self.param = param
        self.total: torch.Tensor | None = None

    def add(self, grad: torch.Tensor) -> None:
        """Add one chunk's gradient (of ``param[:len(grad)]``)."""
        if self.total is None:
            if grad.shape == self.param.shape and grad.dtype == torch.float32:
                self.total = grad  # a fresh autograd result: becomes the accumulator, no copy
                return
            self.total = torch.zeros(self.param.shape, dtype=torch.float32, device=grad.device)
        self.total[: grad.shape[0]].add_(grad)

    def result(self) -> torch.Tensor:
        """The summed gradient in the parameter's dtype (zeros when no chunk was added)."""
        if self.total is None:
            return torch.zeros_like(self.param)
        return self.total.to(self.param.dtype)


class _ChunkedDistillLoss(torch.autograd.Function):
    """Forward computes the loss and all gradients chunk by chunk; backward rescales the gradients."""

    @staticmethod
    def forward(
        ctx,
        student_hidden,
        student_weight,
        student_bias,
        teacher_hidden,
        teacher_weight,
        teacher_bias,
        labels,
        setup: _Setup,
        chunk_size: int,
        with_grads: bool,
    ):
        n_tokens = student_hidden.shape[0]
        vocab = setup.vocab_size
        want_hidden = with_grads and student_hidden.requires_grad
        weight = student_weight[:vocab].detach().requires_grad_(with_grads and student_weight.requires_grad)
        bias = weight_sum = bias_sum = grad_hidden = None
        if student_bias is not None:
            bias = student_bias[:vocab].detach().requires_grad_(with_grads and student_bias.requires_grad)
        if weight.requires_grad:
            weight_sum = _RowGradSum(student_weight)
        if bias is not None and bias.requires_grad:
            bias_sum = _RowGradSum(student_bias)
        if want_hidden:
            grad_hidden = torch.zeros_like(student_hidden)
        grad_targets = [(t, acc) for t, acc in ((weight, weight_sum), (bias, bias_sum)) if acc is not None]
        online = setup.use_teacher and setup.cached is None
        t_weight = teacher_weight[:vocab].detach() if online else None
        t_bias = teacher_bias[:vocab].detach() if online and teacher_bias is not None else None
        ce_total = torch.zeros((), dtype=torch.float32, device=student_hidden.device)
        kd_total = torch.zeros((), dtype=torch.float32, device=student_hidden.device)

        with _precision(student_hidden.device, setup.fp32_heads):  # backward of each chunk too
            for start in range(0, n_tokens, chunk_size):
                stop = min(start + chunk_size, n_tokens)
                teacher_logp = rows = None
                if setup.cached is not None:
                    rows = _cached_rows(setup, start, stop)
                elif setup.use_teacher:
                    assert t_weight is not None  # online
                    teacher_logp = _teacher_logp(
                        teacher_hidden[start:stop].detach(), t_weight, t_bias, setup.temperature, setup.fp32_heads
                    )
                hidden = student_hidden[start:stop].detach().requires_grad_(want_hidden)
                with torch.set_grad_enabled(want_hidden or bool(grad_targets)):
                    ce_sum, kd_sum = _loss_sums(
                        _head_logits(hidden, weight, bias, setup.fp32_heads),
                        teacher_logp,
                        labels[start:stop],
                        setup,
                        rows,
                    )
                    chunk_loss = _combine(ce_sum, kd_sum, n_tokens, setup)
                del teacher_logp, rows
                if chunk_loss.requires_grad:
                    inputs = ([hidden] if want_hidden else []) + [t for t, _ in grad_targets]
                    grads = list(torch.autograd.grad(chunk_loss, inputs))
                    if want_hidden:
                        assert grad_hidden is not None  # allocated when want_hidden
                        grad_hidden[start:stop] = grads.pop(0)
                    for (_, acc), grad in zip(grad_targets, grads, strict=True):
                        acc.add(grad)
                    del grads
                ce_total += ce_sum.detach()
                kd_total += kd_sum.detach()
                del ce_sum, kd_sum, chunk_loss

        ctx.grads = (
            grad_hidden,
            weight_sum.result() if weight_sum is not None else None,
            bias_sum.result() if bias_sum is not None else None,
        )
        denom = max(n_tokens, 1)
        ce = ce_total / denom
        kd = kd_total * setup.kd_scale / denom
        loss = _combine(ce_total, kd_total, n_tokens, setup) if n_tokens else ce_total
        ctx.mark_non_differentiable(ce, kd)
        return loss, ce, kd

    @staticmethod
    def backward(ctx, grad_loss, _grad_ce, _grad_kd):
        unit = bool(torch.equal(grad_loss, torch.ones_like(grad_loss)))
        grads = [g if g is None or unit else g * grad_loss.to(g.dtype) for g in ctx.grads]
        return (*grads, *([None] * 7))


def distill_loss(
    student_hidden: torch.Tensor,
    student_head: torch.nn.Linear,
    teacher_hidden: torch.Tensor | None,
    teacher_head: torch.nn.Linear | None,
    labels: torch.Tensor,
    kd_loss: KDLoss,
    temperature: float,
    sft_weight: float,
    vocab_size: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    scale_by_t2: bool = False,
    *,
    cached: CachedTeacher | None = None,
    fp32_heads: bool = True,
) -> DistillLossOutput:
    """``sft_weight·CE + (1 − sft_weight)·KD`` over ``N`` response tokens, chunked over tokens.

    ``student_hidden`` ``[N, Hs]`` and ``teacher_hidden`` ``[N, Ht]`` are the final hidden states at
    the response positions, ``labels`` ``[N]`` the next tokens. KD is the token mean of
    ``kd_loss.token_loss`` on fp32 log-softmaxes of logits / T (times T² if ``scale_by_t2``); CE is
    the student's token-mean cross-entropy at T = 1. Gradients reach ``student_hidden`` and the
    student head's weight (tied or not) and bias; the teacher gets none. Both heads are cut to their
    first ``vocab_size`` rows. ``N == 0`` gives a zero loss that still backpropagates. With
    ``cached`` (teacher_hidden and teacher_head None) the teacher side comes from a cache, chunk by
    chunk, compared on the categories of its signal. ``fp32_heads`` runs the heads and the loss in
    fp32 under any autocast; False leaves the heads' matmuls in the autocast dtype.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    setup = _setup(
        student_head,
        teacher_hidden,
        teacher_head,
        kd_loss,
        temperature,
        sft_weight,
        vocab_size,
        scale_by_t2,
        cached,
        fp32_heads,
    )
    online = setup.use_teacher and cached is None
    teacher_weight = teacher_head.weight if online and teacher_head is not None else None
    teacher_bias = teacher_head.bias if online and teacher_head is not None else None
    loss, ce, kd = _ChunkedDistillLoss.apply(
        student_hidden,
        student_head.weight,
        student_head.bias,
        teacher_hidden if online else None,
        teacher_weight,
        teacher_bias,
        labels,
        setup,
        chunk_size,
        torch.is_grad_enabled(),
    )
    return DistillLossOutput(loss=loss, ce=ce, kd=kd, n_tokens=int(student_hidden.shape[0]))


def distill_loss_reference(
    student_hidden: torch.Tensor,
    student_head: torch.nn.Linear,
    teacher_hidden: torch.Tensor | None,
    teacher_head: torch.nn.Linear | None,
    labels: torch.Tensor,
    kd_loss: KDLoss,
    temperature: float,
    sft_weight: float,
    vocab_size: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    scale_by_t2: bool = False,
    *,
    cached: CachedTeacher | None = None,
    fp32_heads: bool = True,
) -> DistillLossOutput:
    """The same loss as ``distill_loss`` over full ``[N, V]`` logits with plain autograd (the naive baseline).

    ``chunk_size`` is accepted for signature compatibility and ignored.
    """
    del chunk_size
    setup = _setup(
        student_head,
        teacher_hidden,
        teacher_head,
        kd_loss,
        temperature,
        sft_weight,
        vocab_size,
        scale_by_t2,
        cached,
        fp32_heads,
    )
    vocab = setup.vocab_size
    n_tokens = int(student_hidden.shape[0])
    bias = student_head.bias[:vocab] if student_head.bias is not None else None
    with _precision(student_hidden.device, setup.fp32_heads):
        student_logits = _head_logits(student_hidden, student_head.weight[:vocab], bias, setup.fp32_heads)
        teacher_logp = rows = None
        if cached is not None:
            rows = _cached_rows(setup, 0, n_tokens)
        elif setup.use_teacher:
            assert teacher_hidden is not None and teacher_head is not None  # _setup checked both are given
            t_bias = teacher_head.bias[:vocab] if teacher_head.bias is not None else None
            teacher_logp = _teacher_logp(
                teacher_hidden, teacher_head.weight[:vocab], t_bias, setup.temperature, setup.fp32_heads
            )
        ce_sum, kd_sum = _loss_sums(student_logits, teacher_logp, labels, setup, rows)
    if n_tokens == 0:
        loss = student_logits.sum()  # 0, connected to the graph
        return DistillLossOutput(loss, ce_sum.detach(), kd_sum.detach(), 0)
    loss = _combine(ce_sum, kd_sum, n_tokens, setup)
    return DistillLossOutput(
        loss=loss,
        ce=(ce_sum / n_tokens).detach(),
        kd=(kd_sum * setup.kd_scale / n_tokens).detach(),
        n_tokens=n_tokens,
    )
