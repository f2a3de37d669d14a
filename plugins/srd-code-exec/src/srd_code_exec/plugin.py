"""Entry point of srd-code-exec: registers the ``code_exec`` and ``math_answer`` difficulty metrics."""

from srd_code_exec.metrics import CodeExec, MathAnswer
from srd_core import hookimpl


@hookimpl
def register_difficulty_metrics(register):
    register("code_exec", CodeExec)
    register("math_answer", MathAnswer)
