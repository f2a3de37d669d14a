"""Built-in fusion (being written)."""

from srd_core.hookspecs import hookimpl


@hookimpl
def register_fusions(register):
    """Register the built-in components of this family."""
