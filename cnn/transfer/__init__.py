"""Starting from other people's weights: `import_keras` (Keras Applications models) and `import_torchvision`
(torchvision state dicts)."""

from cnn.transfer.keras import import_keras
from cnn.transfer.torchvision import import_torchvision

__all__ = ["import_keras", "import_torchvision"]
