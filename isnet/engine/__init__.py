"""The engine layer: run configuration, checkpoints, training, evaluation, inpainting and the released weights."""
