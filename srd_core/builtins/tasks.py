"""Built-in tasks (being written)."""

from srd_core.hookspecs import hookimpl


@hookimpl
def register_tasks(register):
    """Register the built-in components of this family."""
