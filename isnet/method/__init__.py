"""The method layer: the paper's losses, backbones, masks, metrics, PRA and baselines as pure functions and modules."""
