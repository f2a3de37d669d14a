"""srd-rereflect: re-score the not-yet-seen samples with the current student at every stage start."""

__version__ = "0.1.0"
