"""The embedded default model and data: a small VGG-style CNN trained on Fashion-MNIST.

Everything here works offline; the checkpoint and 1000 test images ship inside the package
(``ddp_widgets/zoo/data``). Only torch and numpy are imported.

>>> from ddp_widgets.zoo import load_default_model, load_default_data
>>> model = load_default_model()             # MiniVGG in eval mode
>>> data = load_default_data(n=200)          # 20 images per class
>>> logits = model(data.images)              # (200, 10)

The images come from Fashion-MNIST by Zalando Research (MIT licence); see
``data/LICENSE-fashion-mnist.txt``. ``scripts/train_default_model.py`` in the repository made
the checkpoint; docs/default_model.md says how.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from ..core.errors import InvalidArgumentError
from .model import CLASS_NAMES, INPUT_SHAPE, MEAN, NUM_CLASSES, STD, MiniVGG
from .torchvision_models import PretrainedUnavailableWarning, load_torchvision

__all__ = [
    "CHECKPOINT_FILE",
    "CLASS_NAMES",
    "DATA_DIR",
    "INPUT_SHAPE",
    "MEAN",
    "NUM_CLASSES",
    "SAMPLES_FILE",
    "STD",
    "TEST_ACCURACY",
    "DefaultData",
    "MiniVGG",
    "PretrainedUnavailableWarning",
    "default_example_input",
    "load_default_data",
    "load_default_model",
    "load_torchvision",
    "normalize",
]

#: Accuracy of the shipped checkpoint on the full Fashion-MNIST test set (10,000 images),
#: as measured by scripts/train_default_model.py (also recorded in data/minivgg_fashion_mnist.json).
TEST_ACCURACY: float = 0.9157

#: Folder of the package data files.
DATA_DIR: Path = Path(__file__).resolve().parent / "data"
CHECKPOINT_FILE = "minivgg_fashion_mnist.pt"
SAMPLES_FILE = "fashion_mnist_samples.npz"

Device = str | torch.device


def _data_file(name: str) -> Path:
    path = DATA_DIR / name
    if not path.is_file():
        raise FileNotFoundError(
            f"The default model's data file {name!r} is missing from {DATA_DIR}. "
            "The ddp-widgets installation is incomplete: reinstall ddp-widgets "
            "(pip install --force-reinstall ddp-widgets)."
        )
    return path


def normalize(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images ``(N, 28, 28)`` or ``(N, 1, 28, 28)`` (values 0-255) -> the float32
    ``(N, 1, 28, 28)`` tensor the default model expects: ``(x / 255 - MEAN) / STD``."""
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or tuple(x.shape[1:]) != INPUT_SHAPE:
        raise InvalidArgumentError(
            f"expected images of shape (N, 28, 28) or (N, 1, 28, 28), got {tuple(x.shape)}"
        )
    return (x.to(torch.float32) / 255.0 - MEAN) / STD


def default_example_input() -> torch.Tensor:
    """A zeros tensor ``(1, 1, 28, 28)``: the input shape for probing the default model."""
    return torch.zeros((1, *INPUT_SHAPE), dtype=torch.float32)


def load_default_model(device: Device = "cpu") -> MiniVGG:
    """The embedded MiniVGG with its trained Fashion-MNIST weights, in eval mode, on ``device``.

    The checkpoint is a plain state_dict, loaded with ``weights_only=True``."""
    state = torch.load(_data_file(CHECKPOINT_FILE), map_location="cpu", weights_only=True)
    model = MiniVGG()
    model.load_state_dict(state)
    return model.to(device).eval()


@dataclass(frozen=True, eq=False)
class DefaultData:
    """Shipped Fashion-MNIST test images (class-interleaved: labels 0, 1, ..., 9, 0, 1, ...).

    images:      float32 tensor (N, 1, 28, 28), normalised for the default model
    labels:      int64 tensor (N,)
    class_names: the ten class names, indexed by label
    raw:         uint8 numpy array (N, 28, 28), for display
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]
    raw: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def dataset(self) -> TensorDataset:
        """A ``TensorDataset(images, labels)``."""
        return TensorDataset(self.images, self.labels)

    def loader(self, batch_size: int = 100, shuffle: bool = False) -> DataLoader:
        """A ``DataLoader`` over :meth:`dataset` yielding ``(images, labels)`` batches."""
        return DataLoader(self.dataset(), batch_size=batch_size, shuffle=shuffle)

    def __repr__(self) -> str:
        return (
            f"DefaultData(n={len(self)}, images={tuple(self.images.shape)} {self.images.dtype} "
            f"on {self.images.device}, classes={len(self.class_names)})"
        )


def load_default_data(n: int | None = None, device: Device = "cpu") -> DefaultData:
    """The shipped Fashion-MNIST test images (1000, 100 per class).

    ``n`` keeps the first n images; the order is class-interleaved, so any n >= 10 covers all
    classes and n that is a multiple of 10 is exactly balanced. ``images`` and ``labels`` are
    placed on ``device``; ``raw`` stays a numpy array."""
    with np.load(_data_file(SAMPLES_FILE), allow_pickle=False) as npz:
        raw = npz["images"]
        labels = npz["labels"].astype(np.int64)
        class_names = tuple(str(c) for c in npz["class_names"])
    total = len(labels)
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= total:
            raise InvalidArgumentError(
                f"n must be an integer between 1 and {total} (or None for all), got {n!r}"
            )
        raw, labels = raw[:n], labels[:n]
    raw = np.ascontiguousarray(raw)
    return DefaultData(
        images=normalize(raw).to(device),
        labels=torch.from_numpy(labels.copy()).to(device),
        class_names=class_names,
        raw=raw,
    )
