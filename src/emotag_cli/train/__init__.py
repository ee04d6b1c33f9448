"""Training loops: the per-scene appearance fit, pretraining and adaptation."""
