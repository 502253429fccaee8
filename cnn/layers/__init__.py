"""Building blocks of CNNs: convolution, pooling, normalisation and activations (pure functions and Flax modules)."""
