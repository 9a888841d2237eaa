"""Profiles across processes, GPUs and machines on torch.distributed (`Profiler.profile(..., shard="auto")`).

Each rank profiles its contiguous block of whole global batches of a map-style dataset (never a
DistributedSampler, whose padding counts images twice), with the same batches a single process would use.
The partial profiles are then combined with collectives only: one all_reduce(SUM) per dtype over flat
buffers of counts and sums, and one fixed-shape all_gather of the (score, dataset index) candidates of the
top-n and bottom-n (empty slots padded as (-inf, -1)); no state travels by pickle. Before profiling, the
ranks check that they share the class names, the settings, the dataset length, the profiled weights and
the SVD projections (fingerprints); an error on any rank ends every rank: the failing rank re-raises its
own exception, the others a DistributedProfileError that quotes it.

The guarantee: for the same batches, integer fields and top/bottom-n are bit-identical for any number of
ranks, and float sums agree to rtol 1e-12, given deterministic transforms and kernels and the same
projections. Iterable datasets are not split by position: each rank profiles what it yields, which must
carry global dataset indices (dict batches with an "index" key).

`profile(model_fn, dataset_fn, nproc=N, **kwargs)` runs this from a notebook on one machine (torch's elastic
launch); `python -m ddp_widgets.profile` runs it from a shell, torchrun or srun.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, IterableDataset

from ._classes import ClassAxis
from ._data import Batch, DataPlan, plan_batches
from ._profile_run import ProfileRun
from .core.accumulator import LayerStats, select_top
from .core.errors import DataError, DistributedProfileError, InvalidArgumentError
from .core.fingerprint import tensor_bytes, weights_fingerprint
from .profile_record import Profile

if TYPE_CHECKING:
    from .profiling import Profiler

__all__ = ["is_distributed", "profile", "profile_auto"]

MESSAGE_BYTES = 2048
KIND_CODES = {None: 0, "none": 1, "int": 2, "str": 3}


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _comm_device() -> torch.device:
    """Where collective buffers must live: the current CUDA device for NCCL, the CPU otherwise."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _digest(value: Any) -> list[int]:
    """Four int64 words of the SHA-256 of a JSON-able value (for comparing it across ranks)."""
    h = hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).digest()
    return [int.from_bytes(h[i : i + 8], "little", signed=True) for i in range(0, 32, 8)]


def _all_gather(t: torch.Tensor) -> list[torch.Tensor]:
    out = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(out, t.contiguous())
    return out


def _projection_fingerprint(profiler: Profiler) -> str:
    h = hashlib.sha256()
    for n in profiler.layers:
        p = profiler._spec(n).projection
        h.update(f"{n}:{p.dtype}:{tuple(p.shape)}".encode() + tensor_bytes(p))
    return h.hexdigest()


def _map_style(data: Any) -> bool:
    if isinstance(data, (torch.Tensor, np.ndarray)):
        return True
    if isinstance(data, DataLoader):
        return data.batch_sampler is not None and not isinstance(data.dataset, IterableDataset)
    return isinstance(data, Dataset) and not isinstance(data, IterableDataset) and hasattr(data, "__len__")


def _length(data: Any) -> int:
    target = data.dataset if isinstance(data, DataLoader) else data
    try:
        return len(target)
    except TypeError:
        return -1


def _check_setup(
    profiler: Profiler, class_names: Any, settings: dict[str, Any], length: int, dev: torch.device
) -> None:
    """Every rank must share class names, settings, dataset length, weights and projections."""
    error, groups = None, {}
    try:  # a rank that fails here must still meet the others in the collectives below
        groups = {
            "class names": _digest(class_names),
            "settings": _digest(settings),
            "dataset length": [length, 0, 0, 0],
            "profiled weights": _digest(
                weights_fingerprint({n: profiler.analysis.module(n) for n in profiler.layers})
            ),
            "SVD projections": _digest(_projection_fingerprint(profiler)),
        }
    except Exception as exc:  # noqa: BLE001 - re-raised on every rank by _raise_if_any_failed
        error = exc
    _raise_if_any_failed(error, dev)
    mine = torch.tensor([v for words in groups.values() for v in words], dtype=torch.int64, device=dev)
    every = [t.cpu().reshape(len(groups), 4) for t in _all_gather(mine)]
    problems = []
    for g, name in enumerate(groups):
        differ = [r for r, t in enumerate(every) if not torch.equal(t[g], every[0][g])]
        if differ:
            problems.append(f"{name} (rank(s) {', '.join(map(str, differ))} differ from rank 0)")
    if problems:
        raise DistributedProfileError(
            "the ranks disagree on "
            + "; ".join(problems)
            + ": every rank must profile the same model, weights, "
            "dataset and settings (class_names fixes the class axis for all of them)"
        )


def _raise_if_any_failed(error: BaseException | None, dev: torch.device) -> None:
    """One collective after profiling: if a rank failed, every rank raises (the failing one its own error)."""
    text = b"" if error is None else f"{type(error).__name__}: {error}".encode()[: MESSAGE_BYTES - 1]
    buf = torch.zeros(MESSAGE_BYTES + 1, dtype=torch.uint8)
    buf[0] = 0 if error is None else 1
    buf[1 : 1 + len(text)] = torch.frombuffer(bytearray(text), dtype=torch.uint8) if text else buf[1:1]
    every = [t.cpu() for t in _all_gather(buf.to(dev))]
    failed = [
        (r, bytes(t[1:].tolist()).rstrip(b"\0").decode(errors="replace")) for r, t in enumerate(every) if t[0]
    ]
    if not failed:
        return
    summary = "; ".join(f"rank {r} raised {msg}" for r, msg in failed)
    if error is not None:
        if hasattr(error, "add_note"):
            error.add_note(f"(ddp-widgets: every rank stopped: {summary})")
        raise error
    raise DistributedProfileError(f"the distributed profile stopped: {summary}")


def _require_indices(plan: DataPlan) -> DataPlan:
    def gen() -> Iterator[Batch]:
        for batch in plan.batches:
            if batch.positional:
                raise DataError(
                    "under shard='auto' an iterable dataset is not split by position: each rank profiles "
                    "what it yields, so its batches must carry global dataset indices (dict batches with an "
                    "'index' key)"
                )
            yield batch

    return DataPlan(gen(), plan.total, plan.length)


def profile_auto(
    profiler: Profiler,
    data: Any,
    labels: Any = None,
    *,
    shard: str = "auto",
    batch_size: int,
    top_n: int,
    threshold: float,
    aggregation: str,
    class_names: Any,
    ignore_index: Any,
    keys: Any,
    forward: Any,
    calls: str,
    max_batches: int | None,
    progress: bool,
    all_ranks: bool = False,
) -> Profile | None:
    """The merged profile of every rank's block (on rank 0; on every rank with all_ranks=True; else None)."""
    if shard != "auto":
        raise InvalidArgumentError(f"shard must be (rank, world_size), None or 'auto', got {shard!r}")
    if not is_distributed():
        raise DistributedProfileError(
            "shard='auto' needs torch.distributed initialised (launch with torchrun / srun and call "
            "torch.distributed.init_process_group, or use ddp_widgets.distributed.profile from a notebook); "
            "a single process takes shard=None or shard=(rank, world_size)"
        )
    rank, world, dev = dist.get_rank(), dist.get_world_size(), _comm_device()
    axis = ClassAxis(class_names, ignore_index)
    settings = {
        "layers": profiler.layers,
        "aggregation": aggregation,
        "threshold": threshold,
        "top_n": top_n,
        "batch_size": batch_size,
        "calls": calls,
        "ignore_index": axis.ignore_index,
        "map_style": _map_style(data),
    }
    length = _length(data) if settings["map_style"] else -1  # iterables: each rank yields its own part
    _check_setup(profiler, axis.given, settings, length, dev)
    local, error = None, None
    try:
        if settings["map_style"]:
            plan = plan_batches(data, labels, batch_size=batch_size, keys=keys, shard=(rank, world))
        else:
            plan = _require_indices(plan_batches(data, labels, batch_size=batch_size, keys=keys))
        run = ProfileRun(
            profiler,
            axis,
            aggregation=aggregation,
            top_n=top_n,
            threshold=threshold,
            calls=calls,
            forward=forward,
            settings={"ignore_index": axis.ignore_index, "batch_size": batch_size, "shard": None},
        )
        local = run.execute(plan, max_batches, progress and rank == 0, allow_empty=True, check_classes=False)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - re-raised on every rank below
        error = exc
    _raise_if_any_failed(error, dev)
    assert local is not None
    merged = merge_across_ranks(local, axis, dev)
    return merged if all_ranks or rank == 0 else None


def _split(flat: torch.Tensor, shapes: list[tuple[int, ...]]) -> list[torch.Tensor]:
    out, at = [], 0
    for shape in shapes:
        size = int(torch.Size(shape).numel())
        out.append(flat[at : at + size].reshape(shape))
        at += size
    return out


def _class_axis(local: Profile, axis: ClassAxis, dev: torch.device) -> list[str]:
    kind = KIND_CODES[axis.kind]
    unnamed_strings = int(axis.given is None and axis.kind == "str")
    head = torch.tensor(
        [len(local.class_names) if kind else 0, kind, unnamed_strings], dtype=torch.int64, device=dev
    )
    dist.all_reduce(head, op=dist.ReduceOp.MAX)
    n_classes, kind_max, any_unnamed = (int(v) for v in head.cpu())
    if any_unnamed:
        raise DistributedProfileError(
            "string labels need class_names=[...] under shard='auto', so that every rank uses the same class "
            "order"
        )
    if axis.given is not None:
        return list(axis.given)
    if kind_max == KIND_CODES["int"]:
        return [str(c) for c in range(n_classes)]
    return ["all"]


def _gather_ranges(ranges: torch.Tensor, dev: torch.device) -> torch.Tensor:
    sizes = [int(t) for t in _all_gather(torch.tensor([ranges.shape[0]], dtype=torch.int64, device=dev))]
    padded = torch.full((max(max(sizes), 1), 2), -1, dtype=torch.int64, device=dev)
    padded[: ranges.shape[0]] = ranges.to(dev)
    every = [t.cpu() for t in _all_gather(padded)]
    return torch.cat([t[:k] for t, k in zip(every, sizes, strict=True)])


def merge_across_ranks(local: Profile, axis: ClassAxis, dev: torch.device) -> Profile:
    """Combine every rank's partial profile with collectives (see the module docstring)."""
    names = _class_axis(local, axis, dev)
    stats: dict[str, LayerStats] = {}
    for n in local.layers:
        s = local._stats[n]
        if s.n_classes != len(names):
            s = s.compact()
            s.grow(len(names))
        stats[n] = s.compact(copy=False)
    int_fields, float_fields = (
        ("count", "nonfinite", "infl_count"),
        ("sum", "sumsq", "infl_ddp", "infl_weight"),
    )
    meta = local.meta
    totals = torch.tensor(
        [local.n_images, local.n_ignored, int(meta.get("n_batches", 0)), int(not meta.get("complete", True))],
        dtype=torch.int64,
    )
    ints = [getattr(stats[n], f) for n in local.layers for f in int_fields] + [totals]
    floats = [getattr(stats[n], f) for n in local.layers for f in float_fields]
    flat_i = torch.cat([t.reshape(-1) for t in ints]).to(dev)
    flat_f = torch.cat([t.reshape(-1) for t in floats]).to(dev)
    dist.all_reduce(flat_i)
    dist.all_reduce(flat_f)
    ints = _split(flat_i.cpu(), [tuple(t.shape) for t in ints])
    floats = _split(flat_f.cpu(), [tuple(t.shape) for t in floats])
    k = 0
    for n in local.layers:
        for f in int_fields:
            setattr(stats[n], f, ints[k])
            k += 1
    for k, (n, f) in enumerate((n, f) for n in local.layers for f in float_fields):
        setattr(stats[n], f, floats[k])
    _merge_rankings(stats, local.layers, dev)
    n_images, n_ignored, n_batches, incomplete = (int(v) for v in ints[-1])
    merged_meta = {
        **meta,
        "n_images": n_images,
        "n_ignored": n_ignored,
        "n_batches": n_batches,
        "complete": incomplete == 0,
        "shard": None,
        "world_size": dist.get_world_size(),
    }
    ranges = _gather_ranges(torch.from_numpy(local.index_ranges), dev).numpy()
    return Profile(local.layers, names, stats, {n: local._sv[n] for n in local.layers}, merged_meta, ranges)


def _merge_rankings(stats: dict[str, LayerStats], layers: list[str], dev: torch.device) -> None:
    """One all_gather of every layer's (score, index) candidates, then the same selection as Profile.merge."""
    scores = torch.cat(
        [torch.cat([stats[n].top_score.reshape(-1), -stats[n].bottom_score.reshape(-1)]) for n in layers]
    )
    index = torch.cat(
        [torch.cat([stats[n].top_index.reshape(-1), stats[n].bottom_index.reshape(-1)]) for n in layers]
    )
    all_scores = [t.cpu() for t in _all_gather(scores.to(dev))]
    all_index = [t.cpu() for t in _all_gather(index.to(dev))]
    at = 0
    for n in layers:
        s = stats[n]
        size = s.top_score.numel()
        parts = []
        for offset in (at, at + size):
            cand_s = torch.cat([t[offset : offset + size].reshape(s.top_score.shape) for t in all_scores])
            cand_i = torch.cat([t[offset : offset + size].reshape(s.top_score.shape) for t in all_index])
            parts.append(select_top(cand_s, cand_i, s.top_n))
        (s.top_score, s.top_index), (neg, s.bottom_index) = parts
        s.bottom_score = -neg
        at += 2 * size


def profile(model_fn: Any, dataset_fn: Any, nproc: int = 2, **kwargs: Any) -> Profile:
    """From a notebook: profile on `nproc` local processes and return the merged Profile to the kernel.

    model_fn() builds the model and dataset_fn() the data (a Dataset, DataLoader, tensor, or (inputs, labels[,
    class_names])); both must be importable functions (defined in a module, not in the notebook). kwargs:
    layers=, example_input=, threads= (torch threads per process, default 1), device=, backend=, and any
    keyword of Profiler.profile (batch_size, top_n, class_names, ...). Uses torch's elastic launch (spawn).
    """
    from ._launch import launch

    return launch(model_fn, dataset_fn, nproc, **kwargs)
