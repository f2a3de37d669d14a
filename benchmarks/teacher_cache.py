"""The teacher signal cache side by side: SRD's training phase with an online teacher vs a full vs a top-k cache.

One invocation prepares the demo run once (presets, reflection, curation), then trains the same
arms from copies of it with each contender, in one process, one after the other:

- ``online``: the teacher runs at every step (today's default);
- ``full`` / ``topk``: the cache is built first (its time counted), then training reads it and the
  teacher model is never loaded;
- ``sft``: the student alone (SFT weight 1, no teacher) on the same batches: the floor for a KD step.

Printed: wall and CPU seconds of each contender (cache build included), the speed-up of each cache
over ``online``, the KD step time over the SFT step time (wall: the training loop only; CPU: the
training calls, model loading included; the same plan and seed, hence the same batches), the cache
build time, its size and bytes per response token. CPU time is the steadier figure on a shared
machine.

    .venv/bin/python benchmarks/teacher_cache.py [--config examples/demo.yaml] [--n-train 600]
        [--prepare-scale 0.25] [--steps N] [--epochs-per-stage 1] [--arms srd,baseline] [--k 32] [--rouge]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import yaml

from srd_core.config import config_from_dict, read_yaml
from srd_core.curation.curate import run_curation
from srd_core.data.samples import load_samples
from srd_core.models.prepare import prepare
from srd_core.reflection.reflect import run_reflection
from srd_core.training.loop import train
from srd_core.training.teacher_cache import build_teacher_caches

SHARED = ("prepared", "reflection.jsonl", "reflection.meta.json", "curation.jsonl", "curation.meta.json")


def raw_config(args, run_dir: Path) -> dict:
    """The demo config, scaled down as asked, writing into ``run_dir``."""
    raw = read_yaml(Path(args.config))
    raw["run"] = {**raw.get("run", {}), "name": run_dir.name, "output_dir": str(run_dir.parent)}
    if args.n_train is not None:
        raw["data"]["train"]["n_train"] = args.n_train
    prep = raw.setdefault("prepare", {})
    for part in ("teacher_sft", "student_sft"):
        section = prep.setdefault(part, {})
        default = 300 if part == "teacher_sft" else 40
        section["steps"] = max(1, round(section.get("steps", default) * args.prepare_scale))
    train_cfg = raw.setdefault("train", {})
    train_cfg["eval_every"] = 0
    if args.steps is not None:
        train_cfg["max_steps"] = args.steps
    pacer = raw.setdefault("curriculum", {}).get("pacer", {"name": "baby_step"})
    pacer = {"name": pacer} if isinstance(pacer, str) else dict(pacer)
    if pacer.get("name") == "baby_step":
        pacer["epochs_per_stage"] = args.epochs_per_stage
    raw["curriculum"]["pacer"] = pacer
    raw.setdefault("baseline", {})["enabled"] = "baseline" in args.arms
    return raw


def contender_config(raw: dict, run_dir: Path, name: str, k: int):
    """The config of one contender, in its own run dir."""
    raw = yaml.safe_load(yaml.safe_dump(raw))
    raw["run"]["name"] = run_dir.name
    signal = {
        "online": {"name": "online"},
        "sft": {"name": "online"},
        "full": {"name": "full"},
        "topk": {"name": "topk", "k": k},
    }[name]
    raw["train"]["teacher_signal"] = signal
    raw["baseline"]["teacher_signal"] = signal
    if name == "sft":
        raw["train"]["sft_weight"] = {"name": "constant", "value": 1.0}
        raw["baseline"]["sft_weight"] = {"name": "constant", "value": 1.0}
    return config_from_dict(raw)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="examples/demo.yaml")
    parser.add_argument("--n-train", type=int, default=None, help="Training samples (default: the config's).")
    parser.add_argument("--prepare-scale", type=float, default=1.0, help="Scale of the presets' SFT steps.")
    parser.add_argument("--steps", type=int, default=None, help="Cap on optimizer steps per arm (train.max_steps).")
    parser.add_argument("--epochs-per-stage", type=float, default=1.0, help="Baby-step epochs (the paper: 8).")
    parser.add_argument("--arms", default="srd", help="srd, or srd,baseline (the baseline shares the cache).")
    parser.add_argument("--k", type=int, default=32, help="k of the top-k contender.")
    parser.add_argument("--contenders", default="online,full,topk,sft")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work-dir", default=None, help="Where the runs go (default: a temp dir, removed).")
    parser.add_argument("--rouge", action="store_true", help="Also the held-out ROUGE-L of each SRD student.")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    arms = [a for a in args.arms.split(",") if a]
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="srd-cache-bench-"))
    base_dir = work / "base"
    raw = raw_config(args, base_dir)
    config = config_from_dict(raw)

    started = time.perf_counter()
    prepare(config, base_dir, progress=False)
    samples = load_samples(config, "train")
    run_reflection(config, base_dir, progress=False)
    run_curation(config, base_dir, samples=samples)
    print(
        f"set-up (prepare, reflect, curate; not timed below): {time.perf_counter() - started:.0f}s, "
        f"{len(samples):,} training samples",
        flush=True,
    )

    results = {}
    for name in args.contenders.split(","):
        run_dir = work / name
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        for item in SHARED:
            source = base_dir / item
            if source.is_dir():
                shutil.copytree(source, run_dir / item)
            elif source.is_file():
                shutil.copy2(source, run_dir / item)
        cfg = contender_config(raw, run_dir, name, args.k)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        builds = build_teacher_caches(cfg, run_dir, samples)
        build_wall = time.perf_counter() - wall0
        train_cpu0 = time.process_time()
        summaries = [train(cfg, run_dir, arm, samples=samples) for arm in arms]
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        train_cpu = time.process_time() - train_cpu0
        steps = sum(s.steps for s in summaries)
        loop = sum(s.wall_time for s in summaries)
        if args.rouge:
            from srd_core.evaluation.evaluate import evaluate_run_model

            rouge = evaluate_run_model(cfg, run_dir, "srd", progress=False)[1].score
            print(f"{name}: held-out ROUGE-L of the SRD student {rouge:.2f}", flush=True)
        results[name] = {
            "wall": wall,
            "cpu": cpu,
            "steps": steps,
            "step": loop / max(steps, 1),
            "step_cpu": train_cpu / max(steps, 1),
            "build": build_wall if builds else 0.0,
            "bytes": sum(b.bytes for b in builds),
            "bpt": builds[0].bytes_per_token if builds else 0.0,
            "loss": summaries[0].final_loss,
        }
        print(
            f"{name}: {wall:.1f}s wall, {cpu:.1f}s CPU, {steps} steps, {1000 * results[name]['step']:.0f} ms/step",
            flush=True,
        )

    print()
    print(
        f"arms: {', '.join(arms)}; {len(samples):,} samples; epochs per stage {args.epochs_per_stage:g}; "
        f"{args.threads} thread(s); top-k k={args.k}"
    )
    print(
        "| contender | wall s | CPU s | steps | ms/step (wall / CPU) | speed-up vs online (wall / CPU) | "
        "step / SFT step (wall / CPU) | cache build s | cache MB | bytes/token |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    online, sft = results.get("online"), results.get("sft")
    for name, r in results.items():
        speed = (
            f"{online['wall'] / r['wall']:.2f}x / {online['cpu'] / r['cpu']:.2f}x"
            if online and name not in ("online", "sft")
            else ""
        )
        per_sft = (
            f"{r['step'] / sft['step']:.2f} / {r['step_cpu'] / sft['step_cpu']:.2f}" if sft and name != "sft" else ""
        )
        print(
            f"| {name} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['steps']} | "
            f"{1000 * r['step']:.0f} / {1000 * r['step_cpu']:.0f} | {speed} | "
            f"{per_sft} | {r['build']:.1f} | {r['bytes'] / 1e6:.1f} | {r['bpt']:.0f} |"
        )
    if args.work_dir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
