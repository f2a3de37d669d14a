"""A plugin that registers `rrf`, a name the built-ins already use: srd must name both distributions."""

from srd_core import hookimpl
from srd_core.components import Fusion


class OtherRRF(Fusion):
    """Not the real RRF."""

    def fuse(self, ranks):
        return [0.0] * len(next(iter(ranks.values())))


@hookimpl
def register_fusions(register):
    register("rrf", OtherRRF)
