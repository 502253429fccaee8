"""The model zoo: `create(name, num_classes=...)`, `names()` and `spec(name)` (default input and classes)."""

from cnn.models import lenet  # noqa: F401  (registers its models)
from cnn.models.registry import ModelSpec, create, names, spec

__all__ = ["ModelSpec", "create", "names", "spec"]
