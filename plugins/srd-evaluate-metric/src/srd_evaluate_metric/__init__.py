"""srd-evaluate-metric: any Hugging Face `evaluate` metric as an srd difficulty metric."""

__version__ = "0.1.0"
