"""srd-adaptive-lambda: a selector that chooses the kept share λ from the data."""

__version__ = "0.1.0"
