"""The model zoo: `create(name, num_classes=...)`, `names()` and `spec(name)` (default input and classes)."""

# Each family module registers its models on import.
from cnn.models import (  # noqa: F401
    alexnet,
    deep_fried,
    densenet,
    efficientnet,
    googlenet,
    inception,
    lenet,
    mobilenet,
    nasnet,
    nin,
    resnet,
    senet,
    shufflenet,
    squeezenet,
    two_stream,
    vgg,
)
from cnn.models.registry import ModelSpec, create, initialized, names, spec

__all__ = ["ModelSpec", "create", "initialized", "names", "spec"]
