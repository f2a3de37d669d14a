"""Models: HF loading, presets, hub access, preparing the embedded models, batched generation."""
