"""The dev split of ``train.select_best``: held out from training and distinct from the final eval set."""

from __future__ import annotations

from srd_core.data.samples import LoaderTask, make_task
from srd_core.errors import ConfigError, DataError, SRDError
from srd_core.types import Sample


def dev_source(config):
    """(task spec, config path) of the dev split: ``data.dev``, else ``data.train``'s eval split when
    ``data.eval`` is the final eval set; anything else would select checkpoints on the final eval set."""
    data = config.data
    if data.dev is not None:
        if data.dev == (data.eval or data.train):
            raise ConfigError(
                "data.dev: the same task as the final eval set; checkpoint selection needs a distinct dev split"
            )
        return data.dev, "data.dev"
    if data.eval is not None:
        return data.train, "data.train"
    raise ConfigError(
        "train.select_best.enabled: no dev split distinct from the final eval set; set data.dev "
        "(a task whose eval split is the dev set), or data.eval (then data.train's eval split is "
        "the dev set, e.g. a held-out slice via dev_size)"
    )


def load_dev_samples(config, max_samples: int | None = None) -> list[Sample]:
    """The dev samples (the eval split of ``dev_source``), the first ``max_samples`` only when given."""
    spec, where = dev_source(config)
    task = make_task(config, spec)
    try:
        if isinstance(task, LoaderTask):
            samples = task.load_split("eval", config.data.on_bad_sample, max_samples).samples
        else:
            samples = task.load("eval")[:max_samples]
    except SRDError as exc:
        raise DataError(f"{where} (dev split of train.select_best): {exc}") from None
    if not samples:
        raise DataError(f"{where} (dev split of train.select_best): the eval split has no samples")
    return samples
