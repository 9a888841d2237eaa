"""The embedded default network: a small plain VGG-style CNN for 28x28 grey images.

Layer names follow torchvision's VGG (``features.<i>``, ``classifier.<i>``), so code written
for VGG16 (the network the DDP paper studies) reads the same on this model. There is no
BatchNorm, as in plain VGG16.

Weighted layers, in forward order::

    features.0    Conv2d(1, 32, 3, padding=1)    28x28
    features.2    Conv2d(32, 32, 3, padding=1)   28x28
    features.5    Conv2d(32, 64, 3, padding=1)   14x14
    features.7    Conv2d(64, 64, 3, padding=1)   14x14
    classifier.0  Linear(64*7*7, 128)
    classifier.3  Linear(128, 10)

Only torch is imported here.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["INPUT_SHAPE", "MEAN", "NUM_CLASSES", "STD", "MiniVGG"]

#: Normalisation constants (on pixel values scaled to [0, 1]): the mean and standard deviation
#: of all pixels of the 60,000 Fashion-MNIST training images, rounded to 4 digits.
#: The model expects ``(x / 255 - MEAN) / STD``.
MEAN: float = 0.2860
STD: float = 0.3530

#: Shape of one input image (channels, height, width).
INPUT_SHAPE: tuple[int, int, int] = (1, 28, 28)

NUM_CLASSES: int = 10

#: The ten Fashion-MNIST classes, indexed by label.
CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


class MiniVGG(nn.Module):
    """Four 3x3 conv layers in two VGG blocks, then two linear layers.

    Input: float tensor ``(N, 1, 28, 28)``, normalised with :data:`MEAN` / :data:`STD`.
    Output: logits ``(N, num_classes)``.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, dropout: float = 0.25) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1),
            nn.ReLU(inplace=False),
            nn.Conv2d(32, 32, kernel_size=3, padding=1),
            nn.ReLU(inplace=False),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.ReLU(inplace=False),
            nn.Conv2d(64, 64, kernel_size=3, padding=1),
            nn.ReLU(inplace=False),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(64 * 7 * 7, 128),
            nn.ReLU(inplace=False),
            nn.Dropout(p=dropout),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)
