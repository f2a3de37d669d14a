"""Entry point of srd-bertscore: registers the ``bertscore`` difficulty metric."""

from srd_bertscore.metric import BERTScore
from srd_core import hookimpl


@hookimpl
def register_difficulty_metrics(register):
    register("bertscore", BERTScore)
