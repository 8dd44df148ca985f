"""LightningModules: the training logic around an injected network."""
