"""Evaluation: generation-based scoring (ROUGE-L protocol) and evaluation sets."""
