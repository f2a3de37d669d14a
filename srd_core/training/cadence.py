"""The train.* fields that decide *when* things are written, never what the student learns.

One list, read by the dependency rule (``srd_core.pipeline.phases``: a change never makes a trained
model stale) and by the loop's checkpoint key (``loop.config_key``: a checkpoint resumes under new
values). Each was checked against what the loop does with it:

* ``log_every``: which steps write a metrics.jsonl row (the loss is computed at every step anyway);
* ``log_with``: which experiment trackers receive those rows;
* ``checkpoint_every``, ``checkpoint_minutes``: when a checkpoint is written; a checkpoint holds the
  weights, optimizer, scheduler and RNG state, so training resumed from any of them takes the same
  steps (the kill -9 tests);
* ``keep_checkpoints``: how many are kept on disk (``select_best`` keeps its own copies);
* ``eval_every``: held-out evaluations during training. They run on the main process, with the
  student in eval mode and ``torch.no_grad``; sampled generation forks the RNG
  (``models.generation``), so the steps after an evaluation draw the same random numbers. The
  arm's ``eval.jsonl`` curve keeps the cadence it was trained with.

Not cadence: ``select_best.every`` (with ``select_best`` on, the dev evaluations pick each stage's
weights) and ``max_steps`` (fewer steps, another model; the loop's checkpoint key leaves it out so
that a longer run resumes from a shorter one's checkpoints).
"""

from __future__ import annotations

CADENCE_FIELDS: tuple[str, ...] = (
    "log_every",
    "log_with",
    "checkpoint_every",
    "checkpoint_minutes",
    "keep_checkpoints",
    "eval_every",
)
"""train.* fields that change when logs, evaluations and checkpoints are written, not the weights."""
