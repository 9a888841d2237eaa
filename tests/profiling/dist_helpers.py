"""Factories and spawned-rank scenarios for the distributed tests (importable by the worker processes)."""

import json
import os
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

NAMES = ["ant", "bee", "cat", "dog"]


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 5 * 5, 4)
    ).eval()


def make_data(n: int = 45) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    g = torch.Generator().manual_seed(7)
    x = torch.randn(n, 1, 10, 10, generator=g)
    return x, torch.arange(n) % 4, NAMES


def make_dataset() -> torch.utils.data.TensorDataset:
    x, y, _ = make_data()
    return torch.utils.data.TensorDataset(x, y)


def _outcome(fn) -> dict:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - recorded for the parent test
        return {"type": type(exc).__name__, "message": str(exc)}
    return {"type": None}


def _init(rank: int, world: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=60))


def equality_worker(rank: int, world: int, port: int, out: str) -> None:
    """The distributed profile of the default-batch data, saved by rank 0 (and by every rank with
    all_ranks)."""
    from ddp_widgets import Profiler

    _init(rank, world, port)
    try:
        x, y, names = make_data()
        prof = Profiler(make_model())
        p = prof.profile(
            x, y, shard="auto", batch_size=4, class_names=names, top_n=5, progress=False, all_ranks=True
        )
        p.save(Path(out) / f"equal_w{world}_r{rank}")
    finally:
        dist.destroy_process_group()


def scenarios_worker(rank: int, world: int, port: int, out: str) -> None:
    """Equality, uneven and empty shards, iterable data, mismatched class axes and an error on one rank."""
    from ddp_widgets import Profiler

    _init(rank, world, port)
    results = {}
    try:
        x, y, names = make_data()
        prof = Profiler(make_model())
        p = prof.profile(
            x, y, shard="auto", batch_size=4, class_names=names, top_n=5, progress=False, all_ranks=True
        )
        p.save(Path(out) / f"equal_w{world}_r{rank}")
        two_batches = prof.profile(
            x[:12], y[:12], shard="auto", batch_size=8, progress=False
        )  # rank 0: no batch
        results["empty_rank_got_none"] = two_batches is None
        if rank == 0:
            two_batches.save(Path(out) / "uneven")
        starts = [0, 5, 10, 15, 20, 25, 30, 35, 40]
        parts = {0: starts[:2], 1: starts[2:7], 2: starts[7:]}  # ranks yield different numbers of batches
        mine = [
            {"image": x[i : i + 5], "label": y[i : i + 5], "index": torch.arange(i, i + 5)}
            for i in parts[rank]
        ]
        it = prof.profile(mine, shard="auto", class_names=names, progress=False)
        if rank == 0:
            it.save(Path(out) / "iterable")
        results["no_indices"] = _outcome(lambda: prof.profile([(x[:5], y[:5])], shard="auto", progress=False))
        other = names if rank != 1 else ["ant", "bee", "cat", "eel"]
        results["classes"] = _outcome(
            lambda: prof.profile(x, y, shard="auto", class_names=other, progress=False)
        )

        def forward(model, inputs):
            if rank == world - 1:
                raise RuntimeError(f"rank {rank} cannot go on")
            return model(inputs)

        results["error"] = _outcome(
            lambda: prof.profile(x, y, shard="auto", batch_size=4, forward=forward, progress=False)
        )
        if (
            rank == 1
        ):  # a rank failing before profiling (here: its projections) must not leave the others waiting
            prof._spec = lambda name: (_ for _ in ()).throw(ValueError("no projection on rank 1"))
        results["setup"] = _outcome(lambda: prof.profile(x, y, shard="auto", progress=False))
        if rank == 1:
            del prof._spec
        results["still_in_step"] = prof.profile(
            x[:8], y[:8], shard="auto", progress=False, all_ranks=True
        ).n_images
    finally:
        (Path(out) / f"scenarios_r{rank}.json").write_text(json.dumps(results))
        dist.destroy_process_group()


def nccl_worker(rank: int, world: int, port: int, out: str) -> None:
    """One NCCL rank with the model on its GPU: the CUDA path of shard='auto' (collectives on the device)."""
    from ddp_widgets import Profiler

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", rank=rank, world_size=world, timeout=timedelta(seconds=60))
    try:
        x, y, names = make_data()
        prof = Profiler(make_model().to(f"cuda:{rank}"))
        p = prof.profile(x, y, shard="auto", batch_size=4, class_names=names, top_n=5, progress=False)
        if rank == 0:
            p.save(Path(out) / "nccl")
    finally:
        dist.destroy_process_group()
