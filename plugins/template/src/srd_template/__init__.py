"""srd-template: a minimal srd plugin distribution to copy from."""

__version__ = "0.1.0"
