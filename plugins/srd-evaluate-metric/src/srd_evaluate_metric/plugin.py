"""Entry point of srd-evaluate-metric: registers the ``hf_evaluate`` difficulty metric."""

from srd_core import hookimpl
from srd_evaluate_metric.metric import EvaluateMetric


@hookimpl
def register_difficulty_metrics(register):
    register("hf_evaluate", EvaluateMetric)
