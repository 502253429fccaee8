"""Starting from other people's weights: `import_keras` (Keras Applications models)."""

from cnn.transfer.keras import import_keras

__all__ = ["import_keras"]
