"""Training: the KD loop on Accelerate, the chunked KD loss, batches, checkpoints, stage plans."""
