"""How far a top-k teacher cache is from the online teacher: KD value and gradient error on real text.

A tiny Llama teacher and student (a BPE tokenizer trained on the data, both models trained briefly
on it so that their distributions are peaked like real LMs') are run on held-out Dolly samples; at
every response position the KD loss is computed with the full teacher distribution (``online``) and
with ``topk`` caches at k = 8, 32, 128 (k logits + the tail bucket at T), for every built-in loss at
T = 1 and 2. Printed per (loss, T, k): the relative error of the KD value, the relative L2 error
of the gradient (w.r.t. the student's hidden states and LM head) and its cosine with the online
gradient. A last table measures the tail interpolation of a per-step schedule (T between stored
grid points) against storing that T exactly.

    .venv/bin/python benchmarks/topk_error.py [--data ../shared/data/dolly] [--vocab 4096]
        [--teacher-steps 150] [--student-steps 40] [--samples 64]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from srd_core.data.encoding import IGNORE_INDEX, collate_right_padded, encode_example
from srd_core.models.runtime import last_hidden_state
from srd_core.plugins import get_component
from srd_core.training.kd_loss import CachedTeacher, distill_loss

LOSSES = ["fkl", "rkl", "skl", "srkl", "jsd", "tvd", "akl"]
REPO = Path(__file__).resolve().parent.parent


def default_data() -> Path:
    """``$SRD_TEST_DATA/dolly``, else ``../shared/data/dolly`` beside the repository."""
    root = Path(os.environ["SRD_TEST_DATA"]) if os.environ.get("SRD_TEST_DATA") else REPO.parent / "shared" / "data"
    return root / "dolly"


def read_rows(path: Path) -> list[tuple[str, str]]:
    """(prompt, response) pairs of a MiniLLM-format jsonl file."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            out = r["output"][0] if isinstance(r["output"], list) else r["output"]
            rows.append((r["prompt"], " " + out.strip()))
    return rows


def train_tokenizer(texts: list[str], vocab: int) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    tok.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=vocab,
            special_tokens=list(special.values()),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **special)
    fast.add_bos_token = False
    return fast


def make_model(vocab: int, hidden: int, layers: int, tokenizer, seed: int) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    return LlamaForCausalLM(
        LlamaConfig(
            vocab_size=vocab,
            hidden_size=hidden,
            intermediate_size=2 * hidden,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=512,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    )


def lm_train(model, examples, pad_id: int, steps: int, batch: int, lr: float, seed: int) -> float:
    """Plain next-token training on whole sequences (prompt and response); returns the last loss."""
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    loss = torch.tensor(float("nan"))
    for step in range(steps):
        chosen = rng.sample(examples, batch)
        data = collate_right_padded(chosen, pad_id)
        labels = data["input_ids"].masked_fill(data["attention_mask"] == 0, IGNORE_INDEX)
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 10) * (1 - step / steps)
        loss = model(input_ids=data["input_ids"], attention_mask=data["attention_mask"], labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    model.eval()
    return float(loss.detach())


def response_states(model, examples, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Final hidden states at the response positions and the next tokens there."""
    hidden, labels = [], []
    with torch.no_grad():
        for i in range(0, len(examples), 16):
            data = collate_right_padded(examples[i : i + 16], pad_id)
            nxt = data["labels"][:, 1:]
            keep = nxt != IGNORE_INDEX
            h = last_hidden_state(model, data["input_ids"], data["attention_mask"])[:, :-1]
            hidden.append(h[keep])
            labels.append(nxt[keep])
    return torch.cat(hidden), torch.cat(labels)


def kd_and_grad(student_hidden, student_head, labels, loss, temperature, **teacher):
    """KD value and the flattened gradient of the KD loss (SFT weight 0) w.r.t. hidden states and head."""
    hidden = student_hidden.detach().requires_grad_()
    out = distill_loss(
        hidden, student_head, labels=labels, kd_loss=loss, temperature=temperature, sft_weight=0.0, **teacher
    )
    grads = torch.autograd.grad(out.loss, [hidden, student_head.weight])
    return float(out.kd), torch.cat([g.flatten() for g in grads])


def cached(signal, teacher_logits, plan_temperatures):
    temps = signal.stored_temperatures(plan_temperatures)
    rows = signal.encode(teacher_logits, temps)
    return CachedTeacher(signal, lambda a, b: {k: v[a:b] for k, v in rows.items()}, temps, teacher_logits.shape[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data(), help="Directory with dev.jsonl and valid.jsonl.")
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--teacher-steps", type=int, default=150)
    parser.add_argument("--student-steps", type=int, default=40)
    parser.add_argument("--samples", type=int, default=64, help="Held-out samples the errors are measured on.")
    parser.add_argument("--max-length", type=int, default=192)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ks", default="8,32,128")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    train_rows, eval_rows = read_rows(args.data / "dev.jsonl"), read_rows(args.data / "valid.jsonl")[: args.samples]
    tokenizer = train_tokenizer([p + r for p, r in train_rows], args.vocab)
    vocab = len(tokenizer)
    encode = [encode_example(tokenizer, p, r, args.max_length // 2, args.max_length) for p, r in train_rows]
    held_out = [encode_example(tokenizer, p, r, args.max_length // 2, args.max_length) for p, r in eval_rows]
    teacher = make_model(vocab, 128, 4, tokenizer, seed=1)
    student = make_model(vocab, 64, 2, tokenizer, seed=2)
    t_loss = lm_train(teacher, encode, tokenizer.pad_token_id, args.teacher_steps, 16, 3e-3, seed=1)
    s_loss = lm_train(student, encode, tokenizer.pad_token_id, args.student_steps, 16, 3e-3, seed=2)
    t_hidden, labels = response_states(teacher, held_out, tokenizer.pad_token_id)
    s_hidden, _ = response_states(student, held_out, tokenizer.pad_token_id)
    t_head, s_head = teacher.get_output_embeddings(), student.get_output_embeddings()
    with torch.no_grad():
        t_logits = t_head(t_hidden).float()
    p_top = torch.softmax(t_logits, -1).topk(max(int(k) for k in args.ks.split(",")), -1).values.cumsum(-1)
    ks = [int(k) for k in args.ks.split(",")]
    print(
        f"Dolly: {len(train_rows):,} training texts, {len(held_out)} held-out samples, {len(labels):,} response "
        f"tokens; vocab {vocab:,}; teacher LM loss {t_loss:.2f}, student {s_loss:.2f} "
        f"(set-up {time.perf_counter() - started:.0f}s)"
    )
    print(
        "teacher mass in the top k at T=1 (mean over tokens): "
        + ", ".join(f"k={k}: {p_top[:, k - 1].mean():.3f}" for k in ks)
    )
    print()
    print(
        "| loss | T | KD online | "
        + " | ".join(f"k={k} KD rel. err | k={k} grad rel. err | k={k} grad cos" for k in ks)
        + " |"
    )
    print("|---|---:|---:|" + "---:|---:|---:|" * len(ks))
    online = {"teacher_hidden": t_hidden, "teacher_head": t_head}
    for name in LOSSES:
        loss = get_component("kd_loss", name)
        for temperature in (1.0, 2.0):
            ref_kd, ref_grad = kd_and_grad(s_hidden, s_head, labels, loss, temperature, **online)
            cells = []
            for k in ks:
                signal = get_component("teacher_signal", "topk", k=k)
                kd, grad = kd_and_grad(
                    s_hidden,
                    s_head,
                    labels,
                    loss,
                    temperature,
                    teacher_hidden=None,
                    teacher_head=None,
                    cached=cached(signal, t_logits, [1.0, 2.0]),
                )
                rel_grad = float((grad - ref_grad).norm() / ref_grad.norm())
                cos = float(torch.nn.functional.cosine_similarity(grad, ref_grad, dim=0))
                cells.append(f"{abs(kd - ref_kd) / abs(ref_kd):.2e} | {rel_grad:.2e} | {cos:.5f}")
            print(f"| {name} | {temperature:g} | {ref_kd:.4f} | " + " | ".join(cells) + " |")

    print()
    print("tail interpolation (per-step schedule T in [1, 2], tail_grid 8, cubic Hermite in 1/T) vs that T stored:")
    print("| T | k | fkl KD rel. diff | fkl grad rel. diff |")
    print("|---:|---:|---:|---:|")
    loss = get_component("kd_loss", "fkl")
    plan = [1.0 + i / 999 for i in range(1000)]
    for temperature in (1.07, 1.37, 1.81):
        for k in ks:
            signal = get_component("teacher_signal", "topk", k=k, tail_grid=8)
            exact_kd, exact_grad = kd_and_grad(
                s_hidden,
                s_head,
                labels,
                loss,
                temperature,
                teacher_hidden=None,
                teacher_head=None,
                cached=cached(signal, t_logits, [temperature]),
            )
            grid_kd, grid_grad = kd_and_grad(
                s_hidden,
                s_head,
                labels,
                loss,
                temperature,
                teacher_hidden=None,
                teacher_head=None,
                cached=cached(signal, t_logits, plan),
            )
            print(
                f"| {temperature} | {k} | {abs(grid_kd - exact_kd) / abs(exact_kd):.2e} | "
                f"{float((grid_grad - exact_grad).norm() / exact_grad.norm()):.2e} |"
            )
    print(f"\ntotal {time.perf_counter() - started:.0f}s wall")


if __name__ == "__main__":
    main(sys.argv[1:])
