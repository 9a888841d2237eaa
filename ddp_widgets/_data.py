"""Turn the data forms a user may hand to a profiler into batches with stable dataset indices.

Accepted: a tensor (or ndarray) of inputs with `labels`; a map-style Dataset; a DataLoader (shuffled or not);
any iterable of `(x, y, *extra)` tuples, bare inputs, or dicts. Every image gets a dataset index:
- a tensor: its row; a Dataset: the index it was read at; a DataLoader over a map-style dataset: the index its
  sampler yielded (the loader is rebuilt around a recording copy of its batch sampler, so workers, collate
  and pinning stay as they were);
- other iterables: the position in iteration order, unless a dict batch carries `index`/`indices`/`idx`.
Dict batches: inputs under one of INPUT_KEYS, labels under one of LABEL_KEYS; `keys=(input_key, label_key)`
overrides (label_key None: unlabelled). Inputs may be a tensor, or a tuple/list/dict of tensors (the model's
positional or keyword arguments). `shard=(rank, world_size)` keeps a contiguous block of whole batches.
Every refusal is a DataError that says what to pass instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, RandomSampler
from torch.utils.data._utils.collate import default_collate

from .core.errors import DataError, InvalidArgumentError

INPUT_KEYS = ("image", "images", "pixel_values", "input", "inputs", "x")
LABEL_KEYS = ("label", "labels", "target", "targets", "y", "class", "cls")
INDEX_KEYS = ("index", "indices", "idx")


@dataclass
class Batch:
    inputs: Any  # a tensor, or a tuple/list/dict of tensors
    labels: Any  # raw labels (None: unlabelled)
    indices: torch.Tensor  # (size,) int64 dataset indices
    size: int
    positional: bool = False  # the indices are positions in iteration order, not given by the data


@dataclass
class DataPlan:
    batches: Iterator[Batch]
    total: int | None  # batches this shard profiles, when known
    length: int | None  # images in the whole dataset, when known


# -- inputs -------------------------------------------------------------------------------------------
def as_inputs(x: Any) -> Any:
    """Inputs as tensors: ndarrays converted, nested tuples/lists/dicts kept; PIL images refused."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biuf":
            raise DataError(f"inputs must be numeric arrays, got dtype {x.dtype}")
        return torch.from_numpy(x)
    if type(x).__module__.startswith("PIL"):
        raise DataError(
            "the data yields PIL images: give the Dataset a transform that makes tensors, e.g. "
            "torchvision.transforms.ToTensor() (plus the model's Normalize)"
        )
    if isinstance(x, dict):
        return {k: as_inputs(v) for k, v in x.items()}
    if (
        isinstance(x, (tuple, list))
        and x
        and all(isinstance(v, (torch.Tensor, np.ndarray, dict, tuple, list)) for v in x)
    ):
        return type(x)(as_inputs(v) for v in x)
    raise DataError(f"expected a tensor of inputs (or a tuple/dict of tensors), got {type(x).__name__}")


def batch_length(x: Any) -> int:
    """The batch size of inputs: the first dimension of their first tensor."""
    if isinstance(x, torch.Tensor):
        if x.dim() == 0:
            raise DataError("inputs must have a batch dimension, got a 0-d tensor")
        return int(x.shape[0])
    values = x.values() if isinstance(x, dict) else x
    for v in values:
        return batch_length(v)
    raise DataError("inputs hold no tensor")


def _pick(item: dict, wanted: Sequence[str], what: str, override: str | None, required: bool) -> Any:
    if override is not None:
        if override not in item:
            raise DataError(
                f"keys=...: the batch has no key {override!r}; its keys are {sorted(map(str, item))}"
            )
        return item[override]
    hits = [k for k in wanted if k in item]
    if len(hits) > 1:
        raise DataError(
            f"dict batches with keys {sorted(map(str, item))} are ambiguous ({', '.join(hits)} could all be "
            f"the {what}): pass keys=(input_key, label_key)"
        )
    if not hits:
        if not required:
            return None
        raise DataError(
            f"dict batches need the {what} under one of {', '.join(wanted)}; found keys "
            f"{sorted(map(str, item))}: pass keys=(input_key, label_key)"
        )
    return item[hits[0]]


def split_item(item: Any, keys: tuple[str, str | None] | None) -> tuple[Any, Any, Any]:
    """One batch as (inputs, raw labels, raw indices or None)."""
    if isinstance(item, dict):
        x = _pick(item, INPUT_KEYS, "inputs", keys[0] if keys else None, True)
        if keys is not None and keys[1] is None:
            y = None
        else:
            y = _pick(item, LABEL_KEYS, "labels", keys[1] if keys else None, True)
        return as_inputs(x), y, _pick(item, INDEX_KEYS, "indices", None, False)
    if keys is not None:
        raise DataError(f"keys=... applies to dict batches; this data yields {type(item).__name__} batches")
    if isinstance(item, (tuple, list)):
        if len(item) == 0:
            raise DataError("a batch is an empty tuple: yield (inputs, labels)")
        return as_inputs(item[0]), (item[1] if len(item) > 1 else None), None
    return as_inputs(item), None, None


def _check_keys(keys: Any) -> tuple[str, str | None] | None:
    if keys is None:
        return None
    if not (
        isinstance(keys, (tuple, list))
        and len(keys) == 2
        and isinstance(keys[0], str)
        and (keys[1] is None or isinstance(keys[1], str))
    ):
        raise InvalidArgumentError(
            f"keys must be (input_key, label_key) (label_key may be None), got {keys!r}"
        )
    return keys[0], keys[1]


# -- shards -------------------------------------------------------------------------------------------
def check_shard(shard: Any) -> tuple[int, int] | None:
    if shard is None:
        return None
    ok = (
        isinstance(shard, (tuple, list))
        and len(shard) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in shard)
    )
    if not ok or not 0 <= int(shard[0]) < int(shard[1]):
        raise InvalidArgumentError(
            f"shard must be (rank, world_size) with 0 <= rank < world_size, got {shard!r}"
        )
    return int(shard[0]), int(shard[1])


def shard_block(n_batches: int, shard: tuple[int, int] | None) -> range:
    """The contiguous block of batch numbers that `shard` profiles (all of them without a shard)."""
    if shard is None:
        return range(n_batches)
    rank, world = shard
    return range(rank * n_batches // world, (rank + 1) * n_batches // world)


# -- sources ------------------------------------------------------------------------------------------
def plan_batches(
    data: Any,
    labels: Any = None,
    *,
    batch_size: int = 64,
    keys: Any = None,
    shard: tuple[int, int] | None = None,
) -> DataPlan:
    """The batches of `data` this process profiles, each with its dataset indices."""
    keys = _check_keys(keys)
    if isinstance(data, (torch.Tensor, np.ndarray)):
        return _tensor_plan(as_inputs(data), labels, batch_size, shard)
    if labels is not None:
        raise DataError(
            "labels=... goes with a tensor of inputs; a DataLoader or Dataset must yield (x, y) itself"
        )
    if isinstance(data, DataLoader):
        if data.batch_sampler is not None and not isinstance(data.dataset, IterableDataset):
            _peek(data.dataset)
            return _loader_plan(data, keys, shard)
        return _iterable_plan(data, keys, shard)
    if isinstance(data, Dataset) and not isinstance(data, IterableDataset) and hasattr(data, "__len__"):
        n = len(data)  # type: ignore[arg-type]
        if n == 0 and shard is None:
            raise DataError("the dataset is empty (len(dataset) == 0)")
        if n:
            _peek(data)
        lists = [list(range(s, min(s + batch_size, n))) for s in range(0, n, batch_size)]
        loader = DataLoader(data, batch_sampler=lists, collate_fn=default_collate)  # type: ignore[arg-type]
        return _lists_plan(loader, lists, keys, shard, n)
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes, dict)):
        return _iterable_plan(data, keys, shard)
    raise DataError(
        f"cannot profile a {type(data).__name__}: pass a DataLoader, a Dataset, an iterable of (x, y) "
        f"batches, or a tensor of inputs with labels=..."
    )


def _tensor_plan(x: torch.Tensor, labels: Any, batch_size: int, shard: tuple[int, int] | None) -> DataPlan:
    n = batch_length(x)
    if labels is not None:
        y_all = labels.detach().cpu() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        count = int(y_all.shape[0]) if y_all.ndim else 1
        if count != n:
            raise DataError(f"labels has {count} entries but data has {n} inputs: give one label per input")
    if n == 0 and shard is None:
        raise DataError("the dataset is empty: the input tensor has no rows")
    block = shard_block(-(-n // batch_size), shard)

    def gen() -> Iterator[Batch]:
        for b in block:
            lo, hi = b * batch_size, min((b + 1) * batch_size, n)
            y = None if labels is None else y_all[lo:hi]
            yield Batch(x[lo:hi], y, torch.arange(lo, hi), hi - lo)

    return DataPlan(gen(), len(block), n)


def _peek(dataset: Any) -> None:
    """Read item 0 once, to refuse PIL images before any batch is built."""
    try:
        item = dataset[0]
    except Exception:  # noqa: BLE001 - the loader will raise the real error with its own context
        return
    first = item[0] if isinstance(item, (tuple, list)) and item else item
    if isinstance(item, dict):
        first = next((item[k] for k in INPUT_KEYS if k in item), None)
    if first is not None and type(first).__module__.startswith("PIL"):
        as_inputs(first)


class _RecordingBatchSampler:
    """Yields the batches of another batch sampler, remembering each one until the loader delivers it."""

    def __init__(self, inner: Iterable[Sequence[int]]) -> None:
        self.inner = inner
        self.pending: deque[list[int]] = deque()

    def __iter__(self) -> Iterator[list[int]]:
        self.pending.clear()
        for batch in self.inner:
            batch = [int(i) for i in batch]
            self.pending.append(batch)
            yield batch

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]


def _rebuild(loader: DataLoader, batch_sampler: Any) -> DataLoader:
    """The same loader (dataset, collate, workers, pinning) around another batch sampler."""
    kw: dict[str, Any] = {
        "num_workers": loader.num_workers,
        "collate_fn": loader.collate_fn,
        "pin_memory": loader.pin_memory,
        "timeout": loader.timeout,
        "worker_init_fn": loader.worker_init_fn,
        "generator": loader.generator,
        "multiprocessing_context": loader.multiprocessing_context,
    }
    if loader.num_workers > 0:
        kw["prefetch_factor"] = loader.prefetch_factor
    if getattr(loader, "pin_memory_device", ""):
        kw["pin_memory_device"] = loader.pin_memory_device
    return DataLoader(loader.dataset, batch_sampler=batch_sampler, **kw)


def _loader_plan(loader: DataLoader, keys: Any, shard: tuple[int, int] | None) -> DataPlan:
    length = len(loader.dataset) if hasattr(loader.dataset, "__len__") else None  # type: ignore[arg-type]
    if shard is not None:
        sampler = loader.sampler
        if isinstance(sampler, RandomSampler) and sampler.generator is None:
            raise DataError(
                "shard=... needs the same batches on every shard, but this DataLoader shuffles with a fresh "
                "random seed: a profile does not depend on the order, so use shuffle=False (or a seeded "
                "generator=...)"
            )
        return _lists_plan(loader, [[int(i) for i in b] for b in loader.batch_sampler], keys, shard, length)
    recorder = _RecordingBatchSampler(loader.batch_sampler)
    rebuilt = _rebuild(loader, recorder)

    def gen() -> Iterator[Batch]:
        for item in rebuilt:
            if not recorder.pending:
                raise DataError("the DataLoader delivered more batches than its sampler yielded")
            yield _make_batch(
                split_item(item, keys), torch.tensor(recorder.pending.popleft(), dtype=torch.long)
            )

    return DataPlan(gen(), len(recorder), length)


def _lists_plan(
    loader: DataLoader, lists: list[list[int]], keys: Any, shard: tuple[int, int] | None, length: int | None
) -> DataPlan:
    block = shard_block(len(lists), shard)
    chosen = [lists[b] for b in block]
    rebuilt = _rebuild(loader, chosen) if chosen else None

    def gen() -> Iterator[Batch]:
        if rebuilt is None:
            return
        for idx, item in zip(chosen, rebuilt, strict=True):
            yield _make_batch(split_item(item, keys), torch.tensor(idx, dtype=torch.long))

    return DataPlan(gen(), len(chosen), length)


def _make_batch(parts: tuple[Any, Any, Any], indices: torch.Tensor | None, positional: bool = False) -> Batch:
    x, y, raw_idx = parts
    n = batch_length(x)
    if raw_idx is not None:
        positional = False
        indices = torch.as_tensor(np.asarray(raw_idx)).reshape(-1).long()
    if indices is None:
        raise DataError("internal: a batch without indices")  # pragma: no cover
    if indices.numel() != n:
        raise DataError(
            f"a batch has {n} inputs but {indices.numel()} indices: the loader's collate_fn must keep "
            f"one input per sampled index"
        )
    return Batch(x, y, indices, n, positional)


def _iterable_plan(data: Iterable, keys: Any, shard: tuple[int, int] | None) -> DataPlan:
    try:
        total: int | None = len(data)  # type: ignore[arg-type]
    except TypeError:
        total = None
    if shard is not None and total is None:
        raise DataError(
            "shard=... needs the number of batches: pass a Dataset, a DataLoader over a map-style "
            "dataset, or a list of batches"
        )
    block = shard_block(total, shard) if total is not None else None

    def gen() -> Iterator[Batch]:
        seen, with_index = 0, None
        for b, item in enumerate(data):
            parts = split_item(item, keys)
            n, raw_idx = batch_length(parts[0]), parts[2]
            if with_index is not None and with_index != (raw_idx is not None):
                raise DataError(
                    "some batches carry an 'index' key and others not: give every batch its indices"
                )
            with_index = raw_idx is not None
            pos = None if with_index else torch.arange(seen, seen + n)
            seen += n
            if block is None or b in block:
                yield _make_batch(parts, pos, positional=not with_index)

    return DataPlan(gen(), len(block) if block is not None else None, None)
