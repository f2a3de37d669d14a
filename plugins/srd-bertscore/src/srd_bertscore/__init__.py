"""srd-bertscore: BERTScore F1 against the references as an srd difficulty metric."""

__version__ = "0.1.0"
