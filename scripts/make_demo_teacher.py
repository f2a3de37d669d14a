"""Build the demo teacher that ships with srd: `python scripts/make_demo_teacher.py` (about 8 min on one free core).

The embedded default cannot train a teacher worth distilling inside a 10-minute demo on 2 CPU cores,
so the teacher is trained here, once, from this repository alone: the training split of
``examples/demo.yaml``'s ``data`` section (all ``n_train`` samples), a BPE tokenizer trained on it
(which the student then shares), the ``tiny-teacher`` preset, and supervised fine-tuning on the
responses. The result goes to ``srd_core/assets/demo-teacher/`` with ``recipe.json`` (the recipe,
the data's fingerprint, wall and CPU seconds, held-out ROUGE-L overall and per family).
Deterministic for a given torch build.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import torch

from srd_core.config import SFTConfig, load_config
from srd_core.data.samples import load_samples
from srd_core.data.tokenizer_training import train_bpe_tokenizer
from srd_core.evaluation.evaluate import evaluate_model
from srd_core.io import fingerprint, write_json_atomic
from srd_core.models.prepare import sft
from srd_core.models.presets import build_model, count_parameters, describe, resolve_preset, save_model

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "srd_core" / "assets" / "demo-teacher"
PRESET = "tiny-teacher"
SFT = SFTConfig(steps=1600, batch_size=32, lr=3e-3, warmup_ratio=0.05)
SEED = 0
VOCAB_SIZE = 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "examples" / "demo.yaml"), help="Config whose data to use.")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--steps", type=int, default=SFT.steps)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(args.config)
    config.data.limit_train = None  # the teacher learns from every training sample (the demo may use fewer)
    sft_cfg = SFT.model_copy(update={"steps": args.steps})
    samples, eval_samples = load_samples(config, "train"), load_samples(config, "eval")
    start, cpu = time.perf_counter(), time.process_time()
    tokenizer = train_bpe_tokenizer(
        [s.prompt + s.target for s in samples], vocab_size=VOCAB_SIZE, model_max_length=config.data.max_length
    )
    preset = resolve_preset(PRESET, {"max_position_embeddings": max(512, config.data.max_length)})
    model = build_model(preset, tokenizer, seed=SEED)

    def log(step: int) -> None:
        if step % 250 == 0:
            print(f"step {step}/{sft_cfg.steps}  {time.perf_counter() - start:.0f} s", flush=True)

    stats = sft(
        model,
        tokenizer,
        samples,
        sft_cfg,
        config.data.max_prompt_tokens,
        config.data.max_length,
        seed=SEED,
        on_step=log,
    )
    with torch.no_grad():
        result = evaluate_model(model, tokenizer, eval_samples, config.eval, config.data.max_prompt_tokens)
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(model, tokenizer, tmp)
    recipe = {
        "command": "python scripts/make_demo_teacher.py",
        "preset": PRESET,
        "arch": describe(preset),
        "parameters": count_parameters(model),
        "sft": sft_cfg.model_dump(),
        "seed": SEED,
        "vocab_size": len(tokenizer),
        "data": config.data.model_dump(mode="json"),
        "data_key": fingerprint(config.data.model_dump(mode="json")),
        "torch": torch.__version__,
        "sft_stats": asdict(stats),
        "seconds": round(time.perf_counter() - start, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "eval": {
            "protocol": result.protocol,
            "n": result.n,
            "rouge_l": round(result.score, 2),
            "per_family": {k: round(v, 2) for k, v in result.per_family.items()},
        },
    }
    write_json_atomic(tmp / "recipe.json", recipe)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(json.dumps(recipe["eval"]), f"{recipe['seconds']} s wall, {recipe['cpu_seconds']} s CPU", flush=True)


if __name__ == "__main__":
    main()
