"""srd-code-exec: execution-based difficulty metrics for srd (sandboxed code tests, numeric answers)."""

__version__ = "0.1.0"
