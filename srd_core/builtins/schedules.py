"""Built-in schedules (being written)."""

from srd_core.hookspecs import hookimpl


@hookimpl
def register_schedules(register):
    """Register the built-in components of this family."""
