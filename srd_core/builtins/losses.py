"""Built-in losses (being written)."""

from srd_core.hookspecs import hookimpl


@hookimpl
def register_kd_losses(register):
    """Register the built-in components of this family."""
