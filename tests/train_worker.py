"""Runs ``srd_core.training.loop.train`` in its own process (resume and distributed tests).

usage: train_worker.py CONFIG [LABEL] [--pause-at STEP MARKER] [--dump-weights DIR]

With ``--pause-at`` the run touches MARKER after optimizer step STEP and then sleeps, so that a
test can kill it at a known point. With ``--dump-weights`` each process saves the student weights
it holds at every stage start to DIR/rank<R>-stage<S>.safetensors.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from srd_core import plugins
from srd_core.config import load_config
from srd_core.hookspecs import hookimpl
from srd_core.training.loop import train


class PauseAt:
    """Touches a marker file after a given step and sleeps (until killed)."""

    def __init__(self, step: int, marker: Path) -> None:
        self.step, self.marker = step, marker

    @hookimpl
    def step_end(self, context, metrics):
        if metrics["step"] == self.step:
            self.marker.touch()
            time.sleep(600)


class DumpWeights:
    """Saves this process's student weights at every stage start."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @hookimpl
    def stage_start(self, context):
        from safetensors.torch import save_file

        self.directory.mkdir(parents=True, exist_ok=True)
        rank = context.accelerator.process_index
        weights = {k: v.detach().clone().contiguous() for k, v in context.model.state_dict().items()}
        save_file(weights, str(self.directory / f"rank{rank}-stage{context.stage}.safetensors"))


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    args = list(argv)
    if "--pause-at" in args:
        i = args.index("--pause-at")
        plugins.register(PauseAt(int(args[i + 1]), Path(args[i + 2])), name="test-pause")
        del args[i : i + 3]
    if "--dump-weights" in args:
        i = args.index("--dump-weights")
        plugins.register(DumpWeights(Path(args[i + 1])), name="test-dump")
        del args[i : i + 2]
    config = load_config(args[0])
    label = args[1] if len(args) > 1 else "srd"
    summary = train(config, config.run.dir, label)
    print(f"resumed_from_step={summary.resumed_from_step} steps={summary.steps}")


if __name__ == "__main__":
    main(sys.argv[1:])
