"""How much each official-protocol option moves the curriculum, side by side in one run.

A demo-like setup (the synthetic families of examples/demo.yaml, the embedded tiny student after
its short SFT warm start, built by `prepare`) is reflected under srd's default protocol and under
each official option alone, then all together; each reflection is curated (λ = 0.75, three Baby
Step bins). Printed per variant: reflection outputs that differ from the default, samples whose CE
rank moved, samples that crossed the 75 % cut, and samples whose stage changed.

    .venv/bin/python benchmarks/protocol_effects.py [--n 1000] [--student-steps 40] [--dir runs/protocol-effects]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

from srd_core.config import ReflectionConfig, config_from_dict
from srd_core.curation.curate import curate
from srd_core.data.samples import load_samples
from srd_core.models.loading import load_causal_lm, load_tokenizer, resolve_model_path
from srd_core.models.prepare import prepare
from srd_core.reflection.reflect import reflect_samples

OFFICIAL_REFLECTION = {"do_sample": True, "temperature": 0.01, "top_k": 0, "top_p": 1.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="training samples")
    parser.add_argument("--student-steps", type=int, default=40, help="student SFT warm-start steps")
    parser.add_argument("--dir", default="runs/protocol-effects", help="run directory (prepared models)")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    run_dir = Path(args.dir)
    config = config_from_dict(
        {
            "run": {"name": run_dir.name, "output_dir": str(run_dir.parent)},
            "teacher": {"preset": "tiny-teacher"},
            "student": {"preset": "tiny-student"},
            "data": {
                "train": {
                    "name": "synthetic",
                    "n_train": args.n,
                    "n_eval": 50,
                    "seed": 0,
                    "noise": 0.1,
                    "families": ["count", "date", "name_format", "add"],
                },
                "max_prompt_tokens": 128,
                "max_length": 160,
            },
            "prepare": {
                "teacher_sft": {"steps": 0},
                "student_sft": {"steps": args.student_steps, "batch_size": 32, "lr": 2.0e-3},
            },
        }
    )
    prepare(config, run_dir)
    samples = load_samples(config, "train")
    path = resolve_model_path(config.student, run_dir, "student")
    tokenizer, model = load_tokenizer(config.student, path, "student"), load_causal_lm(config.student, path, "student")

    variants = {
        "srd default (greedy, data-order ties)": ({}, "data_order"),
        "no_repeat_ngram_size 6": ({"no_repeat_ngram_size": 6}, "data_order"),
        "sampling T=0.01": (OFFICIAL_REFLECTION, "data_order"),
        "ce_exclude_eos": ({"ce_exclude_eos": True}, "data_order"),
        "tie_break chained": ({}, "chained"),
        "all official options": ({**OFFICIAL_REFLECTION, "no_repeat_ngram_size": 6, "ce_exclude_eos": True}, "chained"),
    }
    cache: dict[str, list] = {}
    results = {}
    for name, (reflection, tie_break) in variants.items():
        cfg = ReflectionConfig(batch_size=64, max_new_tokens=24, **reflection)
        key = repr(sorted(reflection.items()))
        if key not in cache:
            start = time.perf_counter()
            cache[key] = reflect_samples(model, tokenizer, samples, cfg, 128, 160, progress=False, seed=10)
            print(f"reflection [{name}]: {time.perf_counter() - start:.1f} s", flush=True)
        records = cache[key]
        curation = curate(samples, records, config.curriculum.model_copy(update={"tie_break": tie_break}))
        results[name] = (records, curation)

    base_records, base_curation = results["srd default (greedy, data-order ties)"]
    zero = sum(c.values["rouge_l"] == 0.0 for c in base_curation)
    print(
        f"\n{len(samples)} samples; default reflection: {zero} with ROUGE-L 0 "
        f"({len({c.values['rouge_l'] for c in base_curation})} distinct ROUGE-L values)"
    )
    print(f"{'variant':<40}{'outputs':>9}{'CE rank':>9}{'75% cut':>9}{'stage':>8}   (samples changed vs default)")
    for name, (records, curation) in results.items():
        outputs = sum(a.output != b.output for a, b in zip(records, base_records, strict=True))
        ce_rank = sum(
            a.ranks["cross_entropy"] != b.ranks["cross_entropy"] for a, b in zip(curation, base_curation, strict=True)
        )
        cut = sum(a.kept != b.kept for a, b in zip(curation, base_curation, strict=True))
        stage = sum(a.bin != b.bin for a, b in zip(curation, base_curation, strict=True))
        print(f"{name:<40}{outputs:>9}{ce_rank:>9}{cut:>9}{stage:>8}")


if __name__ == "__main__":
    main()
