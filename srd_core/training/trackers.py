"""Experiment tracking through Accelerate's trackers (`train.log_with: [tensorboard]`, wandb, mlflow, ...).

The loop calls four functions: ``accelerator_kwargs`` (for ``Accelerator(log_with=..., project_dir=...)``),
``start`` (``init_trackers``, one tracker run per label under ``run_dir/trackers/<label>``), ``log_row``
(``accelerator.log`` of a metrics or eval row) and ``finish``. After the final evaluation, ``log_final_scores``
adds the final scores to each arm's tracker run. With ``log_with`` empty all are no-ops.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from srd_core.config import SRDConfig
from srd_core.errors import ConfigError
from srd_core.evaluation.rows import MODEL_ALIASES, score_of
from srd_core.rundir import SUMMARY_FILE

TRACKERS_DIR = "trackers"
TRAIN_SCALARS = {
    "loss": "train/loss",
    "ce": "train/ce",
    "kd": "train/kd",
    "T": "train/temperature",
    "w_sft": "train/sft_weight",
    "lr": "train/lr",
    "tokens_per_s": "train/tokens_per_s",
    "grad_norm": "train/grad_norm",
    "teacher_share": "train/teacher_share",
}
EVAL_SCALARS = {"rouge_l": "eval/rouge_l", "score": "eval/rouge_l", "sd": "eval/rouge_l_sd"}
DEV_SCALARS = {"rouge_l": "dev/rouge_l"}
"""The dev scores of ``train.select_best``."""
FINAL_SCALARS = {
    "srd": "final/rouge_l",
    "baseline": "final/rouge_l",
    "teacher": "final/teacher_rouge_l",
    "student_init": "final/initial_student_rouge_l",
}
"""eval.jsonl's model → the scalar each arm's tracker run gets (the arm's own score, and the two references)."""
PACKAGES = {
    "tensorboard": "tensorboard",
    "wandb": "wandb",
    "mlflow": "mlflow",
    "trackio": "trackio",
    "comet_ml": "comet-ml",
    "aim": "aim",
    "clearml": "clearml",
    "dvclive": "dvclive",
    "swanlab": "swanlab",
}


def check_available(names: Sequence[str]) -> None:
    """A ``ConfigError`` naming ``train.log_with`` when a tracker's package is not installed."""
    if not names:
        return  # accelerate (and torch with it) takes seconds to import: not for nothing
    import accelerate.utils as utils  # deferred: accelerate

    for name in names:
        available = getattr(utils, f"is_{name}_available", None)
        if available is None or not available():
            raise ConfigError(f"train.log_with: {name} is not installed (pip install {PACKAGES.get(name, name)})")


def accelerator_kwargs(config: SRDConfig, run_dir: Path) -> dict[str, Any]:
    """``log_with`` and ``project_dir`` for the training ``Accelerator`` (empty without trackers)."""
    names = list(config.train.log_with)
    if not names:
        return {}
    check_available(names)
    return {"log_with": names, "project_dir": str(Path(run_dir) / TRACKERS_DIR)}


def _hparams(config: SRDConfig, label: str) -> dict[str, Any]:
    """Flat scalar hyperparameters (what every tracker accepts)."""
    out: dict[str, Any] = {"label": label, "seed": config.run.seed, "run": config.run.name}
    for key, value in config.train.model_dump(mode="json").items():
        if isinstance(value, (int, float, str, bool)):
            out[f"train.{key}"] = value
        elif isinstance(value, dict) and "name" in value:
            out[f"train.{key}"] = str(value["name"])
    return out


def start(accelerator, config: SRDConfig, label: str) -> None:
    """Start one tracker run named after the label (``srd`` or ``baseline``)."""
    if config.train.log_with:
        accelerator.init_trackers(label, config=_hparams(config, label))


def log_row(accelerator, config: SRDConfig, row: dict[str, Any], names: dict[str, str]) -> None:
    """Log the numeric fields of a metrics or eval row under their tracker names, at the row's step."""
    if not config.train.log_with:
        return
    values = {
        tag: float(row[key])
        for key, tag in names.items()
        if isinstance(row.get(key), (int, float)) and not isinstance(row.get(key), bool)
    }
    if values:
        accelerator.log(values, step=int(row["step"]))


def finish(accelerator, config: SRDConfig) -> None:
    """Flush and close the trackers."""
    if config.train.log_with:
        accelerator.end_training()


def log_final_scores(config: SRDConfig, run_dir: Path, rows: list[dict[str, Any]]) -> list[str]:
    """Log the final scores of eval.jsonl ``rows`` to each trained arm's tracker run (``final/rouge_l`` at the
    arm's last step, with the teacher's and the initial student's scores beside it); the labels logged."""
    if not config.train.log_with:
        return []

    from accelerate.tracking import LOGGER_TYPE_TO_CLASS  # deferred: accelerate

    scores = {MODEL_ALIASES.get(str(r.get("model")), str(r.get("model"))): score_of(r) for r in rows}
    logged = []
    for label in ("srd", "baseline"):
        if scores.get(label) is None:
            continue
        values = {
            FINAL_SCALARS[m]: float(v) for m in (label, "teacher", "student_init") if (v := scores.get(m)) is not None
        }
        summary = Path(run_dir) / label / SUMMARY_FILE
        step = int(json.loads(summary.read_text(encoding="utf-8")).get("steps", 0)) if summary.is_file() else 0
        for name in config.train.log_with:
            cls = LOGGER_TYPE_TO_CLASS[name]
            tracker = cls(label, str(Path(run_dir) / TRACKERS_DIR)) if cls.requires_logging_directory else cls(label)
            tracker.start()
            tracker.log(values, step=step)
            tracker.finish()
        logged.append(label)
    return logged
