"""The model zoo: `create(name, num_classes=...)` and `names()`."""

from cnn.models import lenet  # noqa: F401  (registers its models)
from cnn.models.registry import create, names

__all__ = ["create", "names"]
