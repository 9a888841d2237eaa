"""Distributed profiling throughput (issue 13): 1, 2 (and more) gloo ranks on loopback, and the collective
merge.

For the default model (MiniVGG, its 1000 Fashion-MNIST images, repeated) and ResNet-50 (weights=None, random
images, small by default so that a CPU run stays short), prints images/s for a single process and for
shard="auto" over N ranks (each rank one torch thread), as ratios to the single process measured in the same
run; then the time of merge_across_ranks for ResNet-50's layers at 1000 classes. On a 2-core machine the
speedups are informational (the ranks share the cores with everything else).

    python benchmarks/profile_scale.py [--ranks 1,2] [--models default,resnet50] [--images 2000] [--size 64]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _data(name: str, images: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    if name == "default":
        from ddp_widgets.zoo import load_default_data

        d = load_default_data()
        reps = -(-images // d.images.shape[0])
        return d.images.repeat(reps, 1, 1, 1)[:images], d.labels.repeat(reps)[:images]
    g = torch.Generator().manual_seed(0)
    return torch.randn(images, 3, size, size, generator=g), torch.randint(0, 1000, (images,), generator=g)


def _model(name: str, size: int) -> tuple[torch.nn.Module, torch.Tensor]:
    if name == "default":
        from ddp_widgets.zoo import default_example_input, load_default_model

        return load_default_model(), default_example_input()
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.resnet50(weights=None).eval(), torch.zeros(1, 3, size, size)


def _profiler(name: str, size: int):
    from ddp_widgets import Profiler

    model, example = _model(name, size)
    prof = Profiler(model, example_input=example)
    for n in prof.layers:
        prof._spec(n)  # decompositions outside the timing
    return prof


def _worker(rank: int, world: int, port: int, name: str, args: argparse.Namespace, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=600))
    try:
        prof = _profiler(name, args.size)
        x, y = _data(name, args.images, args.size)
        classes = [str(c) for c in range(10 if name == "default" else 1000)]
        prof.profile(
            x[: args.batch],
            y[: args.batch],
            shard="auto",
            batch_size=args.batch,
            class_names=classes,
            progress=False,
        )  # warm-up (and the first collectives)
        times = []
        for n in (x.shape[0] // 2, x.shape[0]):  # two sizes: per-image cost and fixed cost apart
            dist.barrier()
            t = time.perf_counter()
            prof.profile(
                x[:n], y[:n], shard="auto", batch_size=args.batch, class_names=classes, progress=False
            )
            dist.barrier()
            times.append(time.perf_counter() - t)
        if rank == 0:
            Path(out).write_text(json.dumps({"times": times}))
    finally:
        dist.destroy_process_group()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def single(name: str, args: argparse.Namespace) -> float:
    torch.set_num_threads(1)
    prof = _profiler(name, args.size)
    x, y = _data(name, args.images, args.size)
    classes = [str(c) for c in range(10 if name == "default" else 1000)]
    prof.profile(x[: args.batch], y[: args.batch], batch_size=args.batch, class_names=classes, progress=False)
    times = []
    for n in (x.shape[0] // 2, x.shape[0]):
        t = time.perf_counter()
        prof.profile(x[:n], y[:n], batch_size=args.batch, class_names=classes, progress=False)
        times.append(time.perf_counter() - t)
    return times


def _split_cost(times: list[float], images: int) -> tuple[float, float]:
    """(steady images/s, fixed seconds per profile call) from runs of images/2 and images."""
    per_image = max(times[1] - times[0], 1e-9) / (images - images // 2)
    return 1.0 / per_image, max(times[1] - per_image * images, 0.0)


def merge_time(world: int) -> float:
    """Seconds for merge_across_ranks of ResNet-50's layers × 1000 classes over `world` gloo ranks."""
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "merge.json")
        mp.spawn(_merge_worker, args=(world, _port(), out), nprocs=world, join=True)
        return float(json.loads(Path(out).read_text())["seconds"])


def _merge_worker(rank: int, world: int, port: int, out: str) -> None:
    import numpy as np
    import torchvision

    from ddp_widgets._classes import ClassAxis
    from ddp_widgets.core.accumulator import LayerStats
    from ddp_widgets.distributed import merge_across_ranks
    from ddp_widgets.profile_record import Profile

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=600))
    try:
        model = torchvision.models.resnet50(weights=None)
        ranks = {
            n: min(m.weight.shape[0], m.weight[0].numel())
            for n, m in model.named_modules()
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
        }
        names = [str(c) for c in range(1000)]
        stats = {n: LayerStats.empty(r, 16, 1000) for n, r in ranks.items()}
        sv = {n: np.ones(r) for n, r in ranks.items()}
        meta = {"aggregation": "mean", "threshold": 0.1, "top_n": 16, "n_images": 0, "n_ignored": 0}
        local = Profile(list(ranks), names, stats, sv, meta)
        axis = ClassAxis(names)
        dist.barrier()
        t = time.perf_counter()
        merged = merge_across_ranks(local, axis, torch.device("cpu"))
        dist.barrier()
        if rank == 0:
            size = (
                sum(s.sum.numel() for s in merged._stats.values()) * 8 * 4
                + sum(s.count.numel() for s in merged._stats.values()) * 8
            )
            Path(out).write_text(json.dumps({"seconds": time.perf_counter() - t, "bytes": size}))
    finally:
        dist.destroy_process_group()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ranks", default="1,2", help="comma-separated numbers of ranks")
    ap.add_argument("--models", default="default,resnet50")
    ap.add_argument("--images", type=int, default=2000, help="images per run (ResNet-50: --resnet-images)")
    ap.add_argument("--resnet-images", type=int, default=64)
    ap.add_argument("--size", type=int, default=64, help="ResNet-50 image size")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--merge-ranks", type=int, default=2)
    args = ap.parse_args()
    worlds = [int(v) for v in args.ranks.split(",")]
    report: dict[str, dict[str, float]] = {}
    print(f"CPU, one torch thread per process, {os.cpu_count()} cores; batch {args.batch}")
    for name in args.models.split(","):
        run = argparse.Namespace(
            **{**vars(args), "images": args.images if name == "default" else args.resnet_images}
        )
        rows = {"single process": _split_cost(single(name, run), run.images)}
        for world in worlds:
            with tempfile.TemporaryDirectory() as tmp:
                out = str(Path(tmp) / "t.json")
                mp.spawn(_worker, args=(world, _port(), name, run, out), nprocs=world, join=True)
                times = json.loads(Path(out).read_text())["times"]
                rows[f"shard='auto', {world} rank(s)"] = _split_cost(times, run.images)
        ref = rows["single process"][0]
        print(
            f"{name} ({run.images // 2} and {run.images} images; steady throughput and fixed cost per call):"
        )
        for label, (rate, fixed) in rows.items():
            print(
                f"  {label:26s} {rate:9.1f} images/s {rate / ref:6.2f}× the single process, fixed "
                f"{fixed:6.2f} s"
            )
        report[name] = {k: v[0] for k, v in rows.items()}
    sec = merge_time(args.merge_ranks)
    print(f"collective merge, ResNet-50's layers × 1000 classes, {args.merge_ranks} ranks: {sec:.3f} s")
    print(json.dumps({"images_per_s": report, "merge_s": sec}))


if __name__ == "__main__":
    main()
