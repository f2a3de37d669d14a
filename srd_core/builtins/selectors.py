"""Built-in selectors (being written)."""

from srd_core.hookspecs import hookimpl


@hookimpl
def register_selectors(register):
    """Register the built-in components of this family."""
