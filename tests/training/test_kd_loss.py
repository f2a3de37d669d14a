"""The chunked distillation loss against the full-logits reference, TRL, and edge cases."""

from __future__ import annotations

import copy
import os

import pytest
import torch
import torch.nn.functional as F

from srd_core.plugins import get_component
from srd_core.training import kd_loss as kd
from srd_core.training.kd_loss import distill_loss, distill_loss_reference

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

NAMES = ["fkl", "rkl", "skl", "srkl", "jsd", "tvd", "akl"]
CLOSE = {"rtol": 1e-5, "atol": 1e-5}


def _problem(n=9, hs=6, ht=5, vs=13, vt=13, bias=True, seed=0, dtype=torch.float32, scale=1.0):
    """Random hidden states, heads and labels; the teacher head is frozen."""
    torch.manual_seed(seed)
    student_head = torch.nn.Linear(hs, vs, bias=bias).to(dtype)
    teacher_head = torch.nn.Linear(ht, vt, bias=bias).to(dtype).requires_grad_(False)
    hidden = (torch.randn(n, hs) * scale).to(dtype).requires_grad_()
    teacher_hidden = (torch.randn(n, ht) * scale).to(dtype)
    labels = torch.randint(0, min(vs, vt), (n,))
    return hidden, student_head, teacher_hidden, teacher_head, labels


def _run(fn, hidden, head, teacher_hidden, teacher_head, labels, loss_name="fkl", grad_scale=1.0, **kwargs):
    """Loss parts and the gradients of ``grad_scale·loss`` w.r.t. hidden, weight and bias."""
    args = {"temperature": 1.0, "sft_weight": 0.3, **kwargs}
    out = fn(hidden, head, teacher_hidden, teacher_head, labels, get_component("kd_loss", loss_name), **args)
    params = [hidden, head.weight] + ([head.bias] if head.bias is not None else [])
    grads = torch.autograd.grad(out.loss * grad_scale, params)
    return out, grads


def _assert_same(a, b, close=CLOSE):
    (out_a, grads_a), (out_b, grads_b) = a, b
    assert out_a.n_tokens == out_b.n_tokens
    for x, y in [(out_a.loss, out_b.loss), (out_a.ce, out_b.ce), (out_a.kd, out_b.kd)]:
        torch.testing.assert_close(x, y, **close)
    for x, y in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(x, y, **close)


@pytest.mark.parametrize("loss_name", NAMES)
@pytest.mark.parametrize("chunk_size", [1, 3, 9, 50])
def test_chunked_matches_reference(loss_name, chunk_size):
    problem = _problem()
    kwargs = {"loss_name": loss_name, "temperature": 2.0, "sft_weight": 0.25, "scale_by_t2": True}
    chunked = _run(distill_loss, *problem, chunk_size=chunk_size, **kwargs)
    _assert_same(chunked, _run(distill_loss_reference, *problem, **kwargs))
    assert chunked[0].loss.requires_grad and not chunked[0].ce.requires_grad and not chunked[0].kd.requires_grad


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("sft_weight", [0.0, 0.6, 1.0])
@pytest.mark.parametrize("scale_by_t2", [False, True])
def test_chunked_matches_reference_across_settings(temperature, sft_weight, scale_by_t2):
    problem = _problem(n=7, bias=False, seed=1)
    kwargs = {"loss_name": "jsd", "temperature": temperature, "sft_weight": sft_weight, "scale_by_t2": scale_by_t2}
    _assert_same(_run(distill_loss, *problem, chunk_size=2, **kwargs), _run(distill_loss_reference, *problem, **kwargs))


def test_loss_formula_from_parts():
    hidden, head, t_hidden, t_head, labels = _problem()
    out = distill_loss(
        hidden,
        head,
        t_hidden,
        t_head,
        labels,
        get_component("kd_loss", "rkl"),
        temperature=2.0,
        sft_weight=0.4,
        chunk_size=4,
        scale_by_t2=True,
    )
    logits = head(hidden).detach()
    t_logits = t_head(t_hidden)
    ce = F.cross_entropy(logits, labels)
    q = F.log_softmax(logits / 2, -1)
    p = F.log_softmax(t_logits / 2, -1)
    rkl = (q.exp() * (q - p)).sum(-1).mean() * 4
    torch.testing.assert_close(out.ce, ce, **CLOSE)
    torch.testing.assert_close(out.kd, rkl, **CLOSE)
    torch.testing.assert_close(out.loss.detach(), 0.4 * ce + 0.6 * rkl, **CLOSE)
    assert out.n_tokens == 9


def test_backward_scales_with_grad_output():
    problem = _problem(seed=2)
    _assert_same(
        _run(distill_loss, *problem, chunk_size=4, grad_scale=2.5),
        _run(distill_loss_reference, *problem, grad_scale=2.5),
    )


def test_tied_weights_reach_the_embedding():
    hidden, _, t_hidden, t_head, labels = _problem(hs=6, vs=13, bias=False, seed=3)
    embedding = torch.nn.Embedding(13, 6)
    head = torch.nn.Linear(6, 13, bias=False)
    head.weight = embedding.weight  # tied, as in many causal LMs
    tokens = torch.randint(0, 13, (9,))
    grads = []
    for fn in (distill_loss, distill_loss_reference):
        embedding.zero_grad()
        student_hidden = embedding(tokens) + hidden.detach()
        fn(
            student_hidden,
            head,
            t_hidden,
            t_head,
            labels,
            get_component("kd_loss", "fkl"),
            temperature=1.5,
            sft_weight=0.5,
            chunk_size=2,
        ).loss.backward()
        grads.append(embedding.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], **CLOSE)
    assert grads[0].abs().sum() > 0


def test_vocab_size_cuts_padded_heads():
    # Student head padded to 16 rows, teacher to 19; both share the first 13 (e.g. Qwen 151936 vs 152064).
    problem = _problem(vs=16, vt=19, seed=4)
    kwargs = {"loss_name": "skl", "temperature": 2.0, "vocab_size": 13}
    chunked = _run(distill_loss, *problem, chunk_size=4, **kwargs)
    _assert_same(chunked, _run(distill_loss_reference, *problem, **kwargs))
    grad_weight, grad_bias = chunked[1][1], chunked[1][2]
    assert grad_weight.shape == (16, 6) and (grad_weight[13:] == 0).all() and (grad_bias[13:] == 0).all()
    # Equal to the loss with heads that have exactly 13 rows.
    hidden, head, t_hidden, t_head, labels = problem
    small, t_small = torch.nn.Linear(6, 13), torch.nn.Linear(5, 13)
    with torch.no_grad():
        for target, source in ((small, head), (t_small, t_head)):
            target.weight.copy_(source.weight[:13])
            target.bias.copy_(source.bias[:13])
    plain = _run(distill_loss_reference, hidden, small, t_hidden, t_small, labels, loss_name="skl", temperature=2.0)
    torch.testing.assert_close(chunked[0].loss, plain[0].loss, **CLOSE)


def test_unequal_heads_need_vocab_size():
    problem = _problem(vs=13, vt=15)
    with pytest.raises(ValueError, match="vocab_size"):
        _run(distill_loss, *problem)
    with pytest.raises(ValueError, match="vocab_size"):
        _run(distill_loss, *_problem(), vocab_size=14)


def test_sft_only_without_teacher():
    hidden, head, _, _, labels = _problem(seed=5)
    chunked = _run(distill_loss, hidden, head, None, None, labels, sft_weight=1.0, chunk_size=4)
    reference = _run(distill_loss_reference, hidden, head, None, None, labels, sft_weight=1.0)
    _assert_same(chunked, reference)
    torch.testing.assert_close(chunked[0].loss.detach(), F.cross_entropy(head(hidden), labels).detach())
    assert chunked[0].kd.item() == 0.0
    with pytest.raises(ValueError, match="teacher"):
        _run(distill_loss, hidden, head, None, None, labels, sft_weight=0.5)


def test_frozen_head_and_no_grad():
    hidden, head, t_hidden, t_head, labels = _problem(seed=6)
    head.requires_grad_(False)
    loss_fn = get_component("kd_loss", "tvd")
    out = distill_loss(hidden, head, t_hidden, t_head, labels, loss_fn, 1.0, 0.2, chunk_size=4)
    ref = distill_loss_reference(hidden, head, t_hidden, t_head, labels, loss_fn, 1.0, 0.2)
    torch.testing.assert_close(
        torch.autograd.grad(out.loss, hidden)[0], torch.autograd.grad(ref.loss, hidden)[0], **CLOSE
    )
    with torch.no_grad():
        out = distill_loss(hidden, head, t_hidden, t_head, labels, loss_fn, 1.0, 0.2, chunk_size=4)
    assert not out.loss.requires_grad
    torch.testing.assert_close(out.loss, ref.loss.detach(), **CLOSE)


def test_never_materializes_more_than_a_chunk(monkeypatch):
    rows = []
    original = kd._head_logits

    def spy(hidden, weight, bias, fp32=True):
        rows.append(hidden.shape[0])
        return original(hidden, weight, bias, fp32)

    monkeypatch.setattr(kd, "_head_logits", spy)
    _run(distill_loss, *_problem(n=10), chunk_size=4)
    assert rows and max(rows) <= 4 and sum(rows) == 2 * 10  # student + teacher, every token once


def test_matches_trl_generalized_jsd():
    gkd = pytest.importorskip("trl.experimental.gkd")
    hidden, head, t_hidden, t_head, labels = _problem(n=12, seed=7)
    batch_labels = labels.view(3, 4).clone()
    batch_labels[1, :2] = -100
    keep = batch_labels.view(-1) != -100
    for beta in (0.1, 0.5, 0.9):
        out = distill_loss(
            hidden[keep],
            head,
            t_hidden[keep],
            t_head,
            labels[keep],
            get_component("kd_loss", "jsd", beta=beta),
            temperature=2.0,
            sft_weight=0.0,
            chunk_size=3,
        )
        trl = gkd.GKDTrainer.generalized_jsd_loss(
            head(hidden).view(3, 4, -1),
            t_head(t_hidden).view(3, 4, -1),
            labels=batch_labels,
            beta=beta,
            temperature=2.0,
            reduction="batchmean",
        )
        torch.testing.assert_close(out.loss, trl, **CLOSE)
        torch.testing.assert_close(
            torch.autograd.grad(out.loss, head.weight)[0], torch.autograd.grad(trl, head.weight)[0], **CLOSE
        )


# ---- robustness -----------------------------------------------------------------------------------


@pytest.mark.parametrize("loss_name", NAMES)
def test_empty_response_gives_zero_loss_that_backpropagates(loss_name):
    hidden, head, t_hidden, t_head, labels = _problem(n=0)
    for fn in (distill_loss, distill_loss_reference):
        (out, grads) = _run(fn, hidden, head, t_hidden, t_head, labels, loss_name=loss_name)
        assert out.n_tokens == 0 and out.loss.item() == 0.0 and out.ce.item() == 0.0 and out.kd.item() == 0.0
        assert all(torch.isfinite(g).all() and (g == 0).all() for g in grads)


@pytest.mark.parametrize("loss_name", NAMES)
def test_masked_vocabulary_is_safe(loss_name):
    # A bias of -inf masks vocabulary entries in both heads: log-prob -inf, probability 0.
    hidden, head, t_hidden, t_head, labels = _problem(seed=8)
    with torch.no_grad():
        head.bias[10:] = float("-inf")
        t_head.bias[10:] = float("-inf")
    labels = labels % 10
    chunked = _run(
        distill_loss, hidden, head, t_hidden, t_head, labels, loss_name=loss_name, chunk_size=4, temperature=2.0
    )
    out, grads = chunked
    assert torch.isfinite(out.loss) and torch.isfinite(out.kd) and torch.isfinite(out.ce)
    assert all(torch.isfinite(g).all() for g in grads)
    assert (grads[2][10:] == 0).all()
    # Same as a head that simply lacks the masked entries.
    with torch.no_grad():
        small, t_small = torch.nn.Linear(6, 10), torch.nn.Linear(5, 10)
        for target, source in ((small, head), (t_small, t_head)):
            target.weight.copy_(source.weight[:10])
            target.bias.copy_(source.bias[:10])
    plain, _ = _run(
        distill_loss_reference, hidden, small, t_hidden, t_small, labels, loss_name=loss_name, temperature=2.0
    )
    torch.testing.assert_close(out.loss, plain.loss, **CLOSE)


@pytest.mark.parametrize("loss_name", NAMES)
def test_huge_logits_are_safe(loss_name):
    # Hidden states scaled so that logits reach about ±1e4.
    problem = _problem(seed=9, scale=3e3)
    chunked = _run(distill_loss, *problem, loss_name=loss_name, chunk_size=4)
    reference = _run(distill_loss_reference, *problem, loss_name=loss_name)
    logits = problem[1](problem[0]).detach()
    assert logits.abs().max() > 1e3
    out, grads = chunked
    assert torch.isfinite(out.loss) and all(torch.isfinite(g).all() for g in grads)
    _assert_same(chunked, reference, close={"rtol": 1e-4, "atol": 1e-3})


@pytest.mark.parametrize("loss_name", ["fkl", "jsd", "akl"])
def test_bf16_inputs(loss_name):
    problem = _problem(seed=10, dtype=torch.bfloat16)
    chunked = _run(distill_loss, *problem, loss_name=loss_name, chunk_size=4, temperature=2.0)
    reference = _run(distill_loss_reference, *problem, loss_name=loss_name, temperature=2.0)
    out, grads = chunked
    assert out.loss.dtype == torch.float32 and out.kd.dtype == torch.float32
    assert [g.dtype for g in grads] == [torch.bfloat16] * 3
    assert all(torch.isfinite(g).all() for g in grads)
    # fp32 maths on bf16 logits; weight gradients are accumulated over chunks in fp32.
    _assert_same(chunked, reference, close={"rtol": 2e-2, "atol": 2e-2})
    hidden, head, t_hidden, t_head, labels = problem
    fp32, _ = _run(
        distill_loss_reference,
        hidden.detach().float().requires_grad_(),
        copy.deepcopy(head).float(),
        t_hidden.float(),
        copy.deepcopy(t_head).float(),
        labels,
        loss_name=loss_name,
        temperature=2.0,
    )
    torch.testing.assert_close(out.loss, fp32.loss, rtol=2e-2, atol=2e-2)


def test_invalid_arguments():
    problem = _problem()
    with pytest.raises(ValueError, match="chunk_size"):
        _run(distill_loss, *problem, chunk_size=0)
    with pytest.raises(ValueError, match="temperature"):
        _run(distill_loss, *problem, temperature=0.0)
    with pytest.raises(ValueError, match="sft_weight"):
        _run(distill_loss, *problem, sft_weight=1.5)
