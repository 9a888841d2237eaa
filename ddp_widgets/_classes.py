"""The class axis of a profile: one mapping from the labels a dataset yields to class indices.

- `class_names` given: class index = position in `class_names` (the user's order); string labels are looked up
  by name, integer labels must lie in 0..len(class_names)-1, and a label outside is an error naming it.
- No `class_names`: string labels give the sorted unique strings; integer labels give classes 0..max.
- Integer labels equal to `ignore_index` (e.g. 255 or -100) are skipped and counted; one-hot rows are read
  by their argmax; soft labels (rows of probabilities) are refused.
- Unlabelled data is one class "all".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .core.errors import DataError, InvalidArgumentError

MAX_CLASSES = 100_000
IGNORED = -1  # the encoded label of a skipped image


def validate_class_names(names: Any) -> list[str] | None:
    """A list of unique strings (numbers converted with str), or None."""
    if names is None:
        return None
    if isinstance(names, (str, bytes)):
        raise DataError(
            f"class_names must be a sequence of names such as ['cat', 'dog'], not the string {names!r}"
        )
    if isinstance(names, Mapping):
        raise DataError(
            "class_names must be a sequence in class-index order, not a dict: pass e.g. "
            "[names[i] for i in sorted(names)] for a dict {index: name}"
        )
    if isinstance(names, (torch.Tensor, np.ndarray)):
        names = names.tolist()
    if not isinstance(names, Sequence):
        raise DataError(f"class_names must be a list or tuple of names, got {type(names).__name__}")
    out = []
    for n in names:
        if isinstance(n, np.generic):
            n = n.item()
        if isinstance(n, bool) or not isinstance(n, (str, int, float)):
            raise DataError(f"class_names must hold strings (or numbers), got {type(n).__name__} {n!r}")
        out.append(str(n))
    if not out:
        raise DataError("class_names is empty: give one name per class, or leave it out")
    dupes = sorted({n for n in out if out.count(n) > 1})
    if dupes:
        raise DataError(f"class_names must be unique; repeated: {', '.join(map(repr, dupes[:5]))}")
    return out


def _validate_ignore_index(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgumentError(
            f"ignore_index must be an integer label to skip (e.g. 255 or -100), got {value!r}"
        )
    return int(value)


class ClassAxis:
    """Encodes each batch's labels into class indices (IGNORED for skipped images) and names the classes."""

    def __init__(self, class_names: Any = None, ignore_index: Any = None) -> None:
        self.given = validate_class_names(class_names)
        self.ignore_index = _validate_ignore_index(ignore_index)
        self.kind: str | None = None  # "int", "str" or "none"
        self.n_classes = len(self.given) if self.given is not None else 0
        self._lookup = {n: i for i, n in enumerate(self.given or [])}
        self._seen: set[int] = set()

    def _set_kind(self, kind: str) -> None:
        if self.kind is not None and self.kind != kind:
            what = {"int": "integer labels", "str": "string labels", "none": "no labels"}
            raise DataError(
                f"the batches mix {what[self.kind]} and {what[kind]}: give every batch the same kind of "
                "labels"
            )
        self.kind = kind

    def encode(self, raw: Any, n: int) -> torch.Tensor:
        """(n,) int64 class indices of one batch's raw labels."""
        if raw is None:
            if self.given is not None:
                raise DataError(
                    "class_names were given but the data has no labels: yield (x, y) batches or pass "
                    "labels=..."
                )
            self._set_kind("none")
            self.n_classes = 1
            return torch.zeros(n, dtype=torch.long)
        strings = _as_strings(raw)
        if strings is not None:
            self._set_kind("str")
            y = self._encode_strings(strings)
        else:
            self._set_kind("int")
            y = self._encode_ints(
                _as_label_tensor(raw, n, self.n_classes if self.given is not None else None)
            )
        if y.numel() != n:
            raise DataError(f"a batch has {n} inputs but {y.numel()} labels: give one class label per input")
        return y

    def _encode_strings(self, labels: list[str]) -> torch.Tensor:
        if self.given is not None:
            unknown = sorted({v for v in labels if v not in self._lookup})
            if unknown:
                raise DataError(
                    f"label(s) {', '.join(map(repr, unknown[:5]))}{' …' if len(unknown) > 5 else ''} are not "
                    "in class_names "
                    f"({', '.join(map(repr, self.given[:5]))}{', …' if len(self.given) > 5 else ''})"
                )
        else:
            for v in labels:
                self._lookup.setdefault(v, len(self._lookup))
            self.n_classes = len(self._lookup)
        return torch.tensor([self._lookup[v] for v in labels], dtype=torch.long)

    def _encode_ints(self, y: torch.Tensor) -> torch.Tensor:
        keep = torch.ones_like(y, dtype=torch.bool) if self.ignore_index is None else y != self.ignore_index
        valid = y[keep]
        if valid.numel() and int(valid.min()) < 0:
            raise DataError(
                f"label {int(valid.min())} is negative: labels are class indices 0..C-1; if it marks images "
                f"to skip, pass ignore_index={int(valid.min())}"
            )
        top = int(valid.max()) if valid.numel() else -1
        if self.given is not None and top >= len(self.given):
            raise DataError(
                f"label {top} is out of range for {len(self.given)} class names; if it marks images to skip, "
                f"pass ignore_index={top}"
            )
        if top + 1 > MAX_CLASSES:
            raise DataError(
                f"label {top} implies {top + 1} classes (more than {MAX_CLASSES}): if it marks images to "
                f"skip, pass ignore_index={top}; otherwise map the labels to 0..C-1 first"
            )
        if self.given is None:
            self.n_classes = max(self.n_classes, top + 1)
            self._seen.update(torch.unique(valid).tolist())
        return torch.where(keep, y, torch.full_like(y, IGNORED))

    def names(self, check: bool = True) -> tuple[list[str], list[int] | None]:
        """The class names, and the permutation to apply to the accumulated classes (None: keep)."""
        if self.given is not None:
            return list(self.given), None
        if self.kind == "str":
            names = sorted(self._lookup)
            return names, [self._lookup[n] for n in names]
        if self.kind == "int":
            if check:
                self._check_implied()
            return [str(c) for c in range(self.n_classes)], None
        return ["all"], None

    def _check_implied(self) -> None:
        distinct = len(self._seen)
        if self.n_classes > 4 * distinct and self.n_classes - distinct > 16:
            raise DataError(
                f"the labels imply {self.n_classes} classes (0..{self.n_classes - 1}) but only {distinct} "
                "distinct labels occur: pass class_names=[...] for the full class list, or ignore_index=... "
                "for a label that marks images to skip"
            )


def _as_strings(raw: Any) -> list[str] | None:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, np.ndarray) and raw.dtype.kind in "US":
        return [str(v) for v in raw.reshape(-1).tolist()]
    if isinstance(raw, (list, tuple)) and raw and all(isinstance(v, (str, np.str_)) for v in raw):
        return [str(v) for v in raw]
    return None


def _as_label_tensor(raw: Any, n: int, width: int | None) -> torch.Tensor:
    """Integer labels (B,) from integer, integral-float or one-hot labels."""
    if isinstance(raw, torch.Tensor):
        y = raw.detach().cpu()
    else:
        arr = np.asarray(raw)
        if arr.dtype.kind not in "iufb":
            raise DataError(f"labels must be integer class indices or strings, got {arr.dtype} values")
        y = torch.from_numpy(arr.copy())
    if y.dtype == torch.bool or y.is_complex():
        raise DataError(f"labels must be integer class indices, got dtype {y.dtype}")
    if y.dim() == 2 and y.shape[0] == n and y.shape[1] > 1:
        y = _from_one_hot(y, width)
    y = y.reshape(-1)
    if y.is_floating_point() and not (bool(torch.isfinite(y).all()) and bool(torch.all(y == y.round()))):
        raise DataError(
            "labels must be integer class indices (got non-integer floats); map them to 0..C-1 first"
        )
    return y.long()


def _from_one_hot(y: torch.Tensor, width: int | None) -> torch.Tensor:
    rows_ok = bool(((y == 0) | (y == 1)).all()) and bool((y.sum(1) == 1).all())
    if not rows_ok:
        raise DataError(
            f"labels of shape {tuple(y.shape)} are not one-hot rows: soft labels (probabilities, label "
            "smoothing, mixup) cannot be profiled per class; pass hard labels, e.g. y.argmax(1)"
        )
    if width is not None and y.shape[1] != width:
        raise DataError(f"one-hot labels have {y.shape[1]} columns but there are {width} class names")
    return y.argmax(1)
