"""PyTorch twins of three cnn zoo models, in plain torch.nn (no torchvision), and their train step.

Each twin is its cnn model's architecture exactly (layers, shapes, biases, BN ε = 1e-5 and momentum,
parameter count), so one train step does the same arithmetic in both frameworks. Module names mirror
cnn's parameter paths (`stage1_block1.conv1.weight` is `stage1_block1/conv1/kernel`), which is how the
tests copy cnn's weights in to check that the twins compute the same function. Weights start at
torch's default initialisation: it changes no timing.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

# torch's momentum p is the weight of the new batch statistic; cnn's 0.9 weights the old average.
_BN = functools.partial(nn.BatchNorm2d, eps=1e-5, momentum=0.1)

MEMORY_FORMATS = {"NCHW": torch.contiguous_format, "channels_last": torch.channels_last}


class LeNet5(nn.Module):
    """cnn's `lenet5`: C1 6@5×5 (pad 2), max pool, C3 16@5×5, max pool, C5 120@5×5, F6 84, output; ReLU."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c3 = nn.Conv2d(6, 16, 5)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.output = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c3(x)), 2)
        # C5's maps are 1×1, so flattening NCHW gives the same vector as cnn's NHWC.
        x = F.relu(self.c5(x)).flatten(1)
        return self.output(F.relu(self.f6(x)))


class BasicBlock(nn.Module):
    """relu(shortcut(x) + BN(conv2(relu(BN(conv1(x)))))), 3×3 convolutions without bias, the stride in conv1.

    Where the shape changes the shortcut is option A (every stride-th pixel, the new channels zero) or
    option B (1×1 convolution with the stride, then BN), as in cnn's `BasicBlock`.
    """

    def __init__(self, in_channels: int, channels: int, stride: int, shortcut: str):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = _BN(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = _BN(channels)
        self.stride = stride
        self.extra_channels = channels - in_channels
        self.reshapes = stride != 1 or in_channels != channels
        self.option_a = self.reshapes and shortcut == "A"
        if self.reshapes and not self.option_a:
            self.shortcut_conv = nn.Conv2d(in_channels, channels, 1, stride, bias=False)
            self.shortcut_bn = _BN(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(self._shortcut(x) + y)

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if not self.reshapes:
            return x
        if self.option_a:
            # F.pad's widths run from the last axis back: (W, W, H, H, C before, C after).
            return F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, 0, self.extra_channels))
        return self.shortcut_bn(self.shortcut_conv(x))


class ResNet(nn.Module):
    """Stem conv (no bias) + BN + ReLU [+ 3×3/2 max pool, pad 1], stages of BasicBlocks, global average pool, FC.

    Stage s has `stage_sizes[s]` blocks of `stage_widths[s]` channels, the first with stride `stage_strides[s]`.
    """

    def __init__(self, stage_sizes: Sequence[int], stage_widths: Sequence[int], stage_strides: Sequence[int], *,
                 stem_width: int, stem_kernel: int, stem_stride: int, stem_pool: bool, shortcut: str,
                 num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.stem_conv = nn.Conv2d(in_channels, stem_width, stem_kernel, stem_stride, stem_kernel // 2, bias=False)
        self.stem_bn = _BN(stem_width)
        self.stem_pool = stem_pool
        self.block_names = []
        channels = stem_width
        for s, (size, width, stride) in enumerate(zip(stage_sizes, stage_widths, stage_strides), start=1):
            for b in range(1, size + 1):
                name = f"stage{s}_block{b}"
                self.add_module(name, BasicBlock(channels, width, stride if b == 1 else 1, shortcut))
                self.block_names.append(name)
                channels = width
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem_bn(self.stem_conv(x)))
        if self.stem_pool:
            x = F.max_pool2d(x, 3, 2, 1)
        for name in self.block_names:
            x = getattr(self, name)(x)
        return self.fc(x.mean((2, 3)))


MODELS: dict[str, Callable[..., nn.Module]] = {
    "lenet5": LeNet5,
    # He et al. 2016 §4.2, ResNet-20 with option-A shortcuts.
    "resnet20_cifar": functools.partial(ResNet, (3, 3, 3), (16, 32, 64), (1, 2, 2), stem_width=16, stem_kernel=3,
                                        stem_stride=1, stem_pool=False, shortcut="A"),
    # torchvision's resnet18 (v1.5: the stride in the 3×3 convolution).
    "resnet18": functools.partial(ResNet, (2, 2, 2, 2), (64, 128, 256, 512), (1, 2, 2, 2), stem_width=64,
                                  stem_kernel=7, stem_stride=2, stem_pool=True, shortcut="B"),
}


def create(name: str, num_classes: int = 10) -> nn.Module:
    """The twin of cnn's model `name` with `num_classes` outputs."""
    if name not in MODELS:
        raise ValueError(f"no PyTorch twin of {name!r}; there are twins of {', '.join(MODELS)}")
    return MODELS[name](num_classes=num_classes)


def train_step(name: str, batch_size: int, input_shape: tuple[int, int, int], num_classes: int,
               memory_format: str) -> Callable[[], None]:
    """One eager SGD + momentum update of the twin of `name` on a fixed random batch per call.

    The batch is (batch_size, C, H, W) for `input_shape` (H, W, C), laid out and computed in
    `memory_format` (a key of MEMORY_FORMATS); torch uses every core, as XLA does.
    """
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    layout = MEMORY_FORMATS[memory_format]
    model = create(name, num_classes).train().to(memory_format=layout)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    height, width, channels = input_shape
    images = torch.randn(batch_size, channels, height, width).contiguous(memory_format=layout)
    labels = torch.randint(num_classes, (batch_size,))

    def step() -> None:
        optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()

    return step
