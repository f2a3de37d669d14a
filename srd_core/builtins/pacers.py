"""Built-in pacers (being written)."""

from srd_core.hookspecs import hookimpl


@hookimpl
def register_pacers(register):
    """Register the built-in components of this family."""
