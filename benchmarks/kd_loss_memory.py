"""Peak memory and time of the chunked ``distill_loss`` against a naive full-vocabulary KD loss.

The naive variant is what a typical KD loop does: logits for ALL ``batch × seq`` positions from both
heads, fp32 log-softmax over the full vocabulary, the per-token divergence, a masked mean over the
response half, plus the CE term; then backward. The chunked variant gathers the response positions
and calls ``srd_core.training.kd_loss.distill_loss``. Both run forward + backward to the student hidden states and
LM head (teacher frozen), with the same ``kd_loss`` component.

Every measurement runs in a fresh subprocess. Memory: on CUDA ``torch.cuda.max_memory_allocated``;
on CPU the RSS high-water mark (``resource.getrusage``), reported as the increase over the
high-water mark after set-up (inputs and heads allocated). Variants run alternately; the table shows
the median over repeats and the ratios chunked / naive.

    .venv/bin/python benchmarks/kd_loss_memory.py                     # 32k and 128k, default chunk
    .venv/bin/python benchmarks/kd_loss_memory.py --chunk-sizes 128 256 512 1024 --vocab 32000
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from srd_core.plugins import get_component
from srd_core.training.kd_loss import DEFAULT_CHUNK_SIZE, distill_loss

MiB = 2**20


def _rss_high_water() -> int:
    """Peak resident set size of this process so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _inputs(args: argparse.Namespace, device: torch.device):
    """Hidden states of both models for every position, frozen teacher head, student head, labels."""
    torch.manual_seed(0)
    batch, seq, hidden, vocab = args.batch, args.seq, args.hidden, args.vocab
    student_head = torch.nn.Linear(hidden, vocab, bias=False, device=device)
    teacher_head = torch.nn.Linear(hidden, vocab, bias=False, device=device).requires_grad_(False)
    student_hidden = torch.randn(batch, seq, hidden, device=device, requires_grad=True)
    teacher_hidden = torch.randn(batch, seq, hidden, device=device)
    labels = torch.randint(0, vocab, (batch, seq), device=device)
    labels[:, : seq // 2] = -100  # the prompt half; the response half is trained on
    return student_hidden, student_head, teacher_hidden, teacher_head, labels


def naive_step(student_hidden, student_head, teacher_hidden, teacher_head, labels, kd_loss, args) -> None:
    """Full-vocabulary fp32 KD over all positions, masked mean over the response; forward + backward."""
    vocab = args.vocab
    student_logits = student_head(student_hidden).float()
    with torch.no_grad():
        teacher_logits = teacher_head(teacher_hidden).float()
    student_logp = F.log_softmax(student_logits / args.temperature, dim=-1)
    teacher_logp = F.log_softmax(teacher_logits / args.temperature, dim=-1)
    per_token = kd_loss.token_loss(student_logp.view(-1, vocab), teacher_logp.view(-1, vocab))
    mask = (labels != -100).view(-1).float()
    kd = (per_token * mask).sum() / mask.sum()
    ce = F.cross_entropy(student_logits.view(-1, vocab), labels.view(-1), ignore_index=-100)
    loss = args.sft_weight * ce + (1 - args.sft_weight) * kd
    loss.backward()


def chunked_step(student_hidden, student_head, teacher_hidden, teacher_head, labels, kd_loss, args) -> None:
    """Response positions gathered, then ``distill_loss``; forward + backward."""
    keep = labels != -100
    out = distill_loss(
        student_hidden[keep],
        student_head,
        teacher_hidden[keep],
        teacher_head,
        labels[keep],
        kd_loss,
        temperature=args.temperature,
        sft_weight=args.sft_weight,
        chunk_size=args.chunk_size,
    )
    out.loss.backward()


def worker(args: argparse.Namespace) -> dict:
    """One measurement in this (fresh) process: optional warm-up iterations, one timed, peak memory."""
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    problem = _inputs(args, device)
    kd_loss = get_component("kd_loss", args.loss)
    step = naive_step if args.variant == "naive" else chunked_step
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _rss_high_water()
    for _ in range(args.warmup):
        step(*problem, kd_loss, args)
        problem[0].grad = problem[1].weight.grad = None
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    step(*problem, kd_loss, args)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() if cuda else _rss_high_water()
    return {"seconds": seconds, "peak_bytes": peak - base, "device": device.type}


def measure(args: argparse.Namespace, variant: str, vocab: int, chunk_size: int) -> dict:
    """Run ``worker`` in a fresh Python process and return its JSON result."""
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--variant",
        variant,
        "--vocab",
        str(vocab),
        "--chunk-size",
        str(chunk_size),
    ]
    for name in ("batch", "seq", "hidden", "loss", "temperature", "sft_weight", "warmup"):
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(args: argparse.Namespace) -> None:
    """Alternate naive and chunked runs for every vocabulary (and chunk size); print the table."""
    chunk_sizes = args.chunk_sizes or [args.chunk_size]
    tokens = args.batch * args.seq
    print(
        f"device: {'cuda' if torch.cuda.is_available() else 'cpu'} ({torch.get_num_threads()} threads); "
        f"{args.batch}x{args.seq} = {tokens} positions, {tokens - tokens // 2} response; hidden {args.hidden} "
        f"(student and teacher); loss {args.loss}; fp32; forward+backward; {args.repeats} repeats, "
        f"median; memory = peak {'allocated' if torch.cuda.is_available() else 'RSS'} over set-up",
        flush=True,
    )
    rows = []
    for vocab in args.vocab_sizes:
        results: dict[str, list[dict]] = {"naive": [], **{f"chunk {c}": [] for c in chunk_sizes}}
        for _ in range(args.repeats):
            results["naive"].append(measure(args, "naive", vocab, 0))
            for c in chunk_sizes:
                results[f"chunk {c}"].append(measure(args, "chunked", vocab, c))
        naive_mem = statistics.median(r["peak_bytes"] for r in results["naive"])
        naive_time = statistics.median(r["seconds"] for r in results["naive"])
        for name, runs in results.items():
            mem = statistics.median(r["peak_bytes"] for r in runs)
            sec = statistics.median(r["seconds"] for r in runs)
            rows.append((vocab, name, mem / MiB, sec, mem / naive_mem, sec / naive_time))
            print(f"  vocab {vocab:>7,} {name:>11}: {mem / MiB:9.1f} MiB  {sec:7.3f} s", flush=True)
    print()
    print(f"{'vocab':>8} {'variant':>11} {'peak MiB':>10} {'time s':>8} {'mem ratio':>10} {'time ratio':>11}")
    for vocab, name, mem, sec, mem_ratio, time_ratio in rows:
        print(f"{vocab:>8} {name:>11} {mem:>10.1f} {sec:>8.3f} {mem_ratio:>10.3f} {time_ratio:>11.3f}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (the worker options are internal)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-sizes", type=int, nargs="+", default=[32_000, 128_000])
    parser.add_argument(
        "--chunk-sizes",
        type=int,
        nargs="+",
        default=None,
        help=f"chunk sizes to compare (default: the library default, {DEFAULT_CHUNK_SIZE})",
    )
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--loss", default="fkl")
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--sft-weight", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=0, help="untimed iterations before the timed one")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=["naive", "chunked"], help=argparse.SUPPRESS)
    parser.add_argument("--vocab", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.worker:
        print(json.dumps(worker(arguments)))
    else:
        main(arguments)
