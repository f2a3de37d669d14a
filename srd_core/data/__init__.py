"""Data: samples and loaders, the prompt/response encoding, tokenizer training."""
