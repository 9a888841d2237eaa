"""Turn the data forms a user may hand to a profiler into batches of (inputs, integer labels).

Accepted: a DataLoader, a map-style Dataset, any iterable of (x, y) / x / {"image": x, "label": y} batches,
or a tensor (or ndarray) of inputs with `labels` (integers, or strings mapped to classes in sorted order).
Every refusal is a DataError that says what to pass instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch

from .core.errors import DataError


def as_batch(x: Any) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise DataError(f"expected a tensor of inputs, got {type(x).__name__}")
    return x if x.is_floating_point() else x.float()


def check_labels(y: Any, n: int, n_classes: int | None) -> torch.Tensor:
    y = torch.as_tensor(np.asarray(y)) if not isinstance(y, torch.Tensor) else y
    y = y.detach().cpu().reshape(-1)
    if y.numel() != n:
        raise DataError(f"a batch has {n} inputs but {y.numel()} labels: give one integer class label per input")
    if y.is_floating_point():
        if not torch.all(y == y.round()):
            raise DataError("labels must be integer class indices (got non-integer floats); map them to 0..C-1 first")
        y = y.long()
    if y.dtype == torch.bool or not (y.dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)):
        raise DataError(f"labels must be integer class indices, got dtype {y.dtype}")
    y = y.long()
    if y.numel() and int(y.min()) < 0:
        raise DataError("labels must be non-negative class indices 0..C-1")
    if n_classes is not None and y.numel() and int(y.max()) >= n_classes:
        raise DataError(f"label {int(y.max())} is out of range for {n_classes} class names")
    return y


def _split(item: Any) -> tuple[torch.Tensor, Any]:
    if isinstance(item, dict):
        x = item.get("image", item.get("x", item.get("input")))
        y = item.get("label", item.get("y", item.get("target")))
        if x is None:
            raise DataError(f"dict batches need an 'image' (or 'x') key, got keys {sorted(item)}")
        return as_batch(x), y
    if isinstance(item, (tuple, list)):
        if len(item) < 2:
            return as_batch(item[0]), None
        return as_batch(item[0]), item[1]
    return as_batch(item), None


def batches(data: Any, labels: Any, batch_size: int) -> tuple[Iterator[tuple[torch.Tensor, Any]], int | None, list[str] | None]:
    """Normalise the accepted data forms into an iterator of (x, y) batches, the batch count and names."""
    names = None
    if isinstance(data, (torch.Tensor, np.ndarray)):
        x = as_batch(data)
        if labels is None:
            y_all = torch.zeros(x.shape[0], dtype=torch.long)
        else:
            y_all, names = _labels_tensor(labels)
            if y_all.numel() != x.shape[0]:
                raise DataError(f"labels has {y_all.numel()} entries but data has {x.shape[0]} inputs: give one label per input")
        if x.shape[0] == 0:
            raise DataError("the dataset is empty: the input tensor has no rows")
        total = -(-x.shape[0] // batch_size)
        return ((x[i : i + batch_size], y_all[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)), total, names
    if labels is not None:
        raise DataError("labels=... goes with a tensor of inputs; a DataLoader or Dataset must yield (x, y) itself")
    if isinstance(data, torch.utils.data.DataLoader):
        loader: Iterable = data
    elif isinstance(data, torch.utils.data.Dataset) and hasattr(data, "__len__"):
        if len(data) == 0:
            raise DataError("the dataset is empty (len(dataset) == 0)")
        loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    elif isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        loader = data
    else:
        raise DataError(
            f"cannot profile a {type(data).__name__}: pass a DataLoader, a Dataset, an iterable of (x, y) "
            f"batches, or a tensor of inputs with labels=..."
        )
    try:
        total = len(loader)  # type: ignore[arg-type]
    except TypeError:
        total = None

    def gen() -> Iterator[tuple[torch.Tensor, Any]]:
        for item in loader:
            x, y = _split(item)
            yield x, (torch.zeros(x.shape[0], dtype=torch.long) if y is None else y)

    return gen(), total, names


def _labels_tensor(labels: Any) -> tuple[torch.Tensor, list[str] | None]:
    if isinstance(labels, torch.Tensor):
        return labels.detach().cpu().reshape(-1), None
    arr = np.asarray(labels)
    if arr.dtype.kind in "US":  # string labels: classes in sorted order
        names = sorted(set(arr.tolist()))
        lookup = {n: i for i, n in enumerate(names)}
        return torch.tensor([lookup[v] for v in arr.tolist()], dtype=torch.long), names
    if arr.dtype.kind not in "iufb":
        raise DataError(f"labels must be integers (or strings), got {arr.dtype}")
    return torch.from_numpy(arr.reshape(-1).copy()), None
