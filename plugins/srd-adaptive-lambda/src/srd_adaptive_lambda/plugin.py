"""Entry point of srd-adaptive-lambda: registers the ``adaptive`` selector."""

from srd_adaptive_lambda.selector import AdaptiveRatio
from srd_core import hookimpl


@hookimpl
def register_selectors(register):
    register("adaptive", AdaptiveRatio)
