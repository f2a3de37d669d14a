"""Built-in metrics (being written)."""

from srd_core.hookspecs import hookimpl


@hookimpl
def register_difficulty_metrics(register):
    """Register the built-in components of this family."""
