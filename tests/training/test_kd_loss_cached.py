"""distill_loss with the teacher side served from cached rows (full, top-k) and in fp32 under bf16 autocast."""

from __future__ import annotations

import pytest
import torch

from srd_core.plugins import get_component
from srd_core.training.kd_loss import CachedTeacher, distill_loss, distill_loss_reference

NAMES = ["fkl", "rkl", "skl", "srkl", "jsd", "tvd", "akl"]


def _problem(n=11, hs=6, ht=5, v=17, seed=0, offset=0.0):
    torch.manual_seed(seed)
    head = torch.nn.Linear(hs, v)
    t_head = torch.nn.Linear(ht, v).requires_grad_(False)
    with torch.no_grad():
        head.bias.add_(offset)
        t_head.bias.add_(offset)
    hidden = torch.randn(n, hs).requires_grad_()
    t_hidden = torch.randn(n, ht) * 2
    return hidden, head, t_hidden, t_head, torch.randint(0, v, (n,))


def _cached(signal_name, t_hidden, t_head, temperatures=(1.0, 2.0), reads=None, **params):
    """Encode the teacher's logits with a signal, as the cache does, and serve them row range by row range."""
    signal = get_component("teacher_signal", signal_name, **params)
    stored_t = signal.stored_temperatures(list(temperatures))
    with torch.no_grad():
        logits = torch.nn.functional.linear(t_hidden, t_head.weight, t_head.bias)
    stored = signal.encode(logits, stored_t)

    def rows(start, stop):
        if reads is not None:
            reads.append(stop - start)
        return {k: v[start:stop] for k, v in stored.items()}

    return CachedTeacher(signal, rows, stored_t, t_head.out_features)


def _grads(out, hidden, head):
    return torch.autograd.grad(out.loss, [hidden, head.weight, head.bias])


@pytest.mark.parametrize("loss_name", NAMES)
@pytest.mark.parametrize("signal", [("full", {}), ("topk", {"k": 16})])  # k = V − 1: every token its own category
def test_exact_cached_signals_match_online(loss_name, signal):
    hidden, head, t_hidden, t_head, labels = _problem()
    name, params = signal
    kd_loss = get_component("kd_loss", loss_name)
    reads = []
    for temperature in (1.0, 2.0):
        online = distill_loss(hidden, head, t_hidden, t_head, labels, kd_loss, temperature, 0.2, chunk_size=4)
        cached = distill_loss(
            hidden,
            head,
            None,
            None,
            labels,
            kd_loss,
            temperature,
            0.2,
            chunk_size=4,
            cached=_cached(name, t_hidden, t_head, reads=reads, **params),
        )
        torch.testing.assert_close(cached.loss, online.loss, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(cached.kd, online.kd, rtol=1e-5, atol=1e-6)
        for a, b in zip(_grads(cached, hidden, head), _grads(online, hidden, head), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert reads and max(reads) <= 4  # rows are read one chunk at a time


@pytest.mark.parametrize("loss_name", NAMES)
def test_topk_chunked_matches_reference_and_differs_from_full(loss_name):
    hidden, head, t_hidden, t_head, labels = _problem(v=40)
    kd_loss = get_component("kd_loss", loss_name)
    cached = _cached("topk", t_hidden, t_head, k=4)
    chunked = distill_loss(hidden, head, None, None, labels, kd_loss, 2.0, 0.0, chunk_size=3, cached=cached)
    reference = distill_loss_reference(hidden, head, None, None, labels, kd_loss, 2.0, 0.0, cached=cached)
    torch.testing.assert_close(chunked.loss, reference.loss, rtol=1e-5, atol=1e-6)
    for a, b in zip(_grads(chunked, hidden, head), _grads(reference, hidden, head), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    online = distill_loss(hidden, head, t_hidden, t_head, labels, kd_loss, 2.0, 0.0)
    assert torch.isfinite(chunked.loss) and not torch.allclose(chunked.loss, online.loss, rtol=1e-4)


def test_cached_and_online_together_is_an_error():
    hidden, head, t_hidden, t_head, labels = _problem()
    with pytest.raises(ValueError, match="not both"):
        distill_loss(
            hidden,
            head,
            t_hidden,
            t_head,
            labels,
            get_component("kd_loss", "fkl"),
            1.0,
            0.5,
            cached=_cached("full", t_hidden, t_head),
        )


@pytest.mark.parametrize("loss_name", NAMES)
def test_bf16_autocast_matches_fp32(loss_name):
    # logits offset by -100, as GPT-2's are: bf16 heads round them by ~0.25, which the KD value feels at T = 2
    hidden, head, t_hidden, t_head, labels = _problem(n=64, hs=32, ht=32, v=97, offset=-100.0)
    kd_loss = get_component("kd_loss", loss_name)

    def run(autocast, **kwargs):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = distill_loss(hidden, head, t_hidden, t_head, labels, kd_loss, 2.0, 0.1, chunk_size=16, **kwargs)
        return out, _grads(out, hidden, head)

    (ref, ref_grads), (bf16, bf16_grads) = run(False), run(True)
    torch.testing.assert_close(bf16.loss, ref.loss, rtol=1e-5, atol=0)
    torch.testing.assert_close(bf16.kd, ref.kd, rtol=1e-5, atol=0)
    for a, b in zip(bf16_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-8)
    low, _ = run(True, fp32_heads=False)  # the option: heads in the autocast dtype, measurably off
    assert abs(low.kd.item() - ref.kd.item()) > 1e-5 * abs(ref.kd.item())
