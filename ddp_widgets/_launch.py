"""Starting distributed profiles: one rank's work from factories named "pkg.module:function", and the
notebook launcher over torch's elastic launch (used by ddp_widgets.distributed and `python -m
ddp_widgets.profile`).

A factory is named, not pickled: every rank imports it, so it must live in an importable module. The data
factory returns what `Profiler.profile` takes (a Dataset, DataLoader or tensor), or a tuple (inputs, labels)
or (inputs, labels, class_names).
"""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from .core.errors import DistributedProfileError, InvalidArgumentError
from .profile_record import Profile


def factory_name(fn: Any, what: str) -> str:
    """'module:qualname' of a module-level function, or an error that says to move it into a module."""
    if isinstance(fn, str):
        resolve(fn, what)
        return fn
    if not callable(fn):
        raise InvalidArgumentError(
            f"{what} must be a function (or 'pkg.module:function'), got {type(fn).__name__}"
        )
    module, qual = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if module in (None, "__main__") or "<" in qual:
        raise DistributedProfileError(
            f"{what} {qual or fn!r} is defined in the notebook (or inside a function), so the worker "
            "processes cannot import it: put it in a module, e.g. a file factories.py next to the notebook "
            "with `def make_model(): ...`, then pass factories.make_model"
        )
    return f"{module}:{qual}"


def resolve(spec: str, what: str = "factory") -> Callable[[], Any]:
    """The function named 'pkg.module:function' (attributes may be dotted: 'pkg.mod:Class.method')."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise InvalidArgumentError(f"{what} must be named 'pkg.module:function', got {spec!r}")
    try:
        obj: Any = import_module(module_name)
    except ImportError as exc:
        raise InvalidArgumentError(f"{what} {spec!r}: cannot import {module_name!r} ({exc})") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InvalidArgumentError(f"{what} {spec!r}: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise InvalidArgumentError(f"{what} {spec!r} is not callable")
    return obj


def _unpack(data: Any) -> tuple[Any, Any, Any]:
    if isinstance(data, tuple) and len(data) in (2, 3) and isinstance(data[0], torch.Tensor):
        return data[0], data[1], (data[2] if len(data) == 3 else None)
    return data, None, None


def _env_distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def run_rank(model_spec: str, data_spec: str, out: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """One rank: build the model and data from their factories, profile, and write the file on rank 0.

    Initialises torch.distributed from the environment (torchrun, srun, elastic launch) when WORLD_SIZE > 1
    and it is not initialised yet. Returns {"path": ...} on the writing rank, {"error": ...} when profiling
    failed (every rank fails together), {} otherwise.
    """
    options = dict(options)
    torch.set_num_threads(int(options.pop("threads", 1)))
    device = options.pop("device", "cpu")
    backend = options.pop("backend", None)
    layers, example_input = options.pop("layers", None), options.pop("example_input", None)
    own_group = False
    if _env_distributed() and not dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if str(device).startswith("cuda"):
            torch.cuda.set_device(local)
            device = f"cuda:{local}"
        dist.init_process_group(backend or ("nccl" if str(device).startswith("cuda") else "gloo"))
        own_group = True
    try:
        from .profiling import Profiler

        model = resolve(model_spec, "the model factory")().to(device)
        data, labels, names = _unpack(resolve(data_spec, "the data factory")())
        if names is not None and "class_names" not in options:
            options["class_names"] = names
        shard = "auto" if dist.is_initialized() else options.pop("shard", None)
        options.pop("shard", None)
        try:
            prof = Profiler(model, layers=layers, example_input=example_input)
            result = prof.profile(data, labels, shard=shard, **options)
        except Exception as exc:  # noqa: BLE001 - reported to the launcher, which raises it
            return {"error": f"{type(exc).__name__}: {exc}"}
        if result is None:
            return {}
        return {"path": str(result.save(out))} if out is not None else {"profile": result}
    finally:
        if own_group:
            dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(
    model_fn: Any,
    dataset_fn: Any,
    nproc: int = 2,
    *,
    layers: Any = None,
    example_input: Any = None,
    threads: int = 1,
    device: str = "cpu",
    backend: str | None = None,
    **profile_kwargs: Any,
) -> Profile:
    """Profile on `nproc` local processes (torch's elastic launch) and return the merged Profile."""
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise InvalidArgumentError(f"nproc must be a positive number of processes, got {nproc!r}")
    model_spec, data_spec = (
        factory_name(model_fn, "the model factory"),
        factory_name(dataset_fn, "the data factory"),
    )
    profile_kwargs.setdefault("progress", False)
    options = {
        "layers": layers,
        "example_input": example_input,
        "threads": threads,
        "device": device,
        "backend": backend,
        **profile_kwargs,
    }
    with tempfile.TemporaryDirectory(prefix="ddp-widgets-") as tmp:
        out = str(Path(tmp) / "profile.npz")
        config = LaunchConfig(
            min_nodes=1,
            max_nodes=1,
            nproc_per_node=nproc,
            run_id=uuid.uuid4().hex,
            rdzv_backend="c10d",
            rdzv_endpoint=f"127.0.0.1:{_free_port()}",
            max_restarts=0,
            monitor_interval=0.1,
            start_method="spawn",
        )
        try:
            results = elastic_launch(config, run_rank)(model_spec, data_spec, out, options)
        except Exception as exc:
            raise DistributedProfileError(f"a worker process failed: {exc}") from exc
        errors = sorted({r["error"] for r in results.values() if r and "error" in r})
        if errors:
            raise DistributedProfileError("the distributed profile failed: " + "; ".join(errors))
        return Profile.load(out)
