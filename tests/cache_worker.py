"""Builds the teacher caches of a config in its own process (the kill -9 test).

usage: cache_worker.py CONFIG [--pause-after SHARD MARKER | --accelerate]

With ``--pause-after`` the build touches MARKER once shard SHARD is written and then sleeps, so that
a test can kill it in the middle of the build. With ``--accelerate`` it runs on an Accelerate
accelerator (under torchrun: every process builds its shards).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from srd_core.config import load_config
from srd_core.data.samples import load_samples
from srd_core.training.teacher_cache import build_cache, cache_requests


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    config = load_config(argv[0])
    pause = (int(argv[2]), Path(argv[3])) if len(argv) > 3 and argv[1] == "--pause-after" else None
    accelerator = None
    if "--accelerate" in argv:
        from srd_core.reflection.reflect import default_accelerator

        accelerator = default_accelerator()

    def on_shard(shard: int) -> None:
        if pause is not None and shard == pause[0]:
            pause[1].touch()
            time.sleep(3600)

    samples = load_samples(config, "train")
    world = accelerator.num_processes if accelerator is not None else 1
    for request in cache_requests(config, config.run.dir, samples, world):
        result = build_cache(config, config.run.dir, request, samples, accelerator, on_shard=on_shard)
        print(f"built={result.built_shards} reused={result.reused_shards}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
