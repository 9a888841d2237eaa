"""Profiling overhead: plain forward vs forward + SVD-neuron signals of every layer (issue 3).

resnet18 (weights=None), batches of 32 random 224×224 images, one thread by default. Prints medians and
ratios measured in this run; targets: mean aggregation ≤ 1.10× the plain forward, max ≤ 1.5×; peak memory
flat when the number of profiled batches grows 10× (each measured in a fresh child process).
Per-batch statistics update (issue 13): ResNet-50's layer ranks, 1000 classes, batch 64: the device-resident
LayerStats against the previous accumulator (re-implemented below as the reference), target ≥ 1.8× faster.

    python benchmarks/profile_overhead.py [--repeats 5] [--batch 32] [--size 224] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch
import torchvision


def build(device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval().to(device)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timings(args) -> dict[str, float]:
    from ddp_widgets import Profiler

    model = build(args.device)
    x = torch.randn(args.batch, 3, args.size, args.size, device=args.device)
    prof = Profiler(model, example_input=x[:1])
    prof.signals(x[:2])  # decompositions happen once, outside the timing

    def plain():
        with torch.no_grad():
            model(x)

    k = args.stream_batches
    xs = x.repeat(k, 1, 1, 1)  # a stream of k batches, each image its own dataset index
    ys = torch.arange(xs.shape[0]) % 10

    # per batch: the full profile step (signals, statistics, top/bottom-n), fixed costs / k
    def whole_profile():
        prof.profile(xs, ys, batch_size=args.batch, progress=False)

    runs = {
        "plain forward": plain,
        "forward + signals (mean)": lambda: prof.signals(x, "mean"),
        "forward + signals (max)": lambda: prof.signals(x, "max"),
        "profile() per batch (mean)": whole_profile,
    }
    samples: dict[str, list[float]] = {k: [] for k in runs}
    for fn in runs.values():  # warm-up
        fn()
    for _ in range(args.repeats):
        for name, fn in runs.items():  # interleaved, so drift hits all three alike
            sync(args.device)
            t = time.perf_counter()
            fn()
            sync(args.device)
            samples[name].append((time.perf_counter() - t) / (k if name.startswith("profile()") else 1))
    return {name: statistics.median(v) for name, v in samples.items()}


def reference_influential(
    agg: torch.Tensor, threshold: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The influence rule before issue 13 (float32 cumulative shares, an argsort to unsort)."""
    a = agg.abs()
    vals, order = torch.sort(a, dim=1, descending=True)
    cum = torch.cumsum(vals, dim=1)
    total = cum[:, -1:].clamp_min(torch.finfo(cum.dtype).tiny)
    within = (cum / total) <= threshold
    accept = within.sum(dim=1)  # neurons within t
    r = a.shape[1]
    kept_sorted = torch.arange(r, device=a.device)[None, :] <= accept[:, None].clamp(max=r - 1)
    denom = torch.gather(cum, 1, (accept - 1).clamp(min=0)[:, None])
    denom = torch.where(accept[:, None] > 0, denom, total)
    ddp_sorted = torch.where(
        kept_sorted, vals / denom.clamp_min(torch.finfo(cum.dtype).tiny), torch.zeros_like(vals)
    )
    kept_sum = (vals * kept_sorted).sum(dim=1, keepdim=True).clamp_min(torch.finfo(cum.dtype).tiny)
    norm_sorted = torch.where(kept_sorted, vals / kept_sum, torch.zeros_like(vals))
    inverse = torch.argsort(order, dim=1)
    mask = torch.gather(kept_sorted, 1, inverse)
    return mask, torch.gather(ddp_sorted, 1, inverse), torch.gather(norm_sorted, 1, inverse)


class ReferenceAccumulator:
    """The per-batch update of the accumulator before issue 13 (numpy state, a (C, R) table per field per
    batch)."""

    def __init__(self, rank: int, top_n: int, n_classes: int) -> None:
        import numpy as np

        self.np, self.top_n = np, top_n
        self.count = np.zeros(n_classes, np.int64)
        self.tables = {k: np.zeros((n_classes, rank)) for k in ("sum", "sumsq", "ddp", "weight")}
        self.infl_count = np.zeros((n_classes, rank), np.int64)
        self.top_score = self.top_index = None

    def update(
        self, signals: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor, threshold: float
    ) -> None:
        mask, ddp_w, w = reference_influential(signals, threshold)
        c = self.count.shape[0]

        def per_class(x: torch.Tensor):
            acc = torch.zeros(c, x.shape[1], dtype=torch.float64)
            acc.index_add_(0, labels, x.to(torch.float64))
            return acc.numpy()

        self.count += self.np.bincount(labels.numpy(), minlength=c)
        self.tables["sum"] += per_class(signals)
        self.tables["sumsq"] += per_class(signals.to(torch.float64) ** 2)
        self.infl_count += per_class(mask).astype(self.np.int64)
        self.tables["ddp"] += per_class(ddp_w)
        self.tables["weight"] += per_class(w)
        s = signals.to(torch.float64)
        idx = indices.reshape(-1, 1).expand_as(s)
        if self.top_score is not None:
            s, idx = (
                torch.cat([torch.from_numpy(self.top_score), s]),
                torch.cat([torch.from_numpy(self.top_index), idx]),
            )
        score, pos = torch.topk(s, min(self.top_n, s.shape[0]), dim=0)
        self.top_score, self.top_index = score.numpy(), torch.gather(idx, 0, pos).numpy()


def resnet50_ranks() -> list[int]:
    model = torchvision.models.resnet50(weights=None)
    ranks = []
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            rows = m.weight.shape[0]
            cols = m.weight[0].numel()
            ranks.append(min(rows, cols))
    return ranks


def update_timings(args) -> dict[str, float]:
    """Seconds per batch to update every ResNet-50 layer's statistics (1000 classes), old vs new (random
    signals)."""
    from ddp_widgets.core.accumulator import LayerStats

    g = torch.Generator().manual_seed(0)
    ranks = resnet50_ranks()
    warm = (
        args.update_warmup
    )  # batches before timing: the stream's steady state, where few images enter a top-n
    rounds = [
        (
            [torch.randn(args.update_batch, r, generator=g) for r in ranks],
            torch.randint(0, 1000, (args.update_batch,), generator=g),
        )
        for _ in range(warm + args.repeats)
    ]
    new = [LayerStats.empty(r, 16, 1000) for r in ranks]
    old = [ReferenceAccumulator(r, 16, 1000) for r in ranks]
    samples: dict[str, list[float]] = {"previous accumulator": [], "LayerStats (in place)": []}
    for rep, (signals, labels) in enumerate(rounds):  # fresh signals each round, as in a stream
        idx = torch.arange(rep * args.update_batch, (rep + 1) * args.update_batch)
        for name, accs in (("previous accumulator", old), ("LayerStats (in place)", new)):
            t = time.perf_counter()
            for acc, s in zip(accs, signals, strict=True):
                acc.update(s, labels, idx, 0.1)
            if rep >= warm:
                samples[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) for name, v in samples.items()}


def peak_rss_child(batches: int, args) -> float:
    """Peak RSS (MB) of a child process that profiles `batches` batches."""
    code = f"""
import resource, torch, torchvision
torch.set_num_threads({args.threads})
from ddp_widgets import Profiler
torch.manual_seed(0)
model = torchvision.models.resnet18(weights=None).eval().to("{args.device}")
prof = Profiler(model, example_input=torch.zeros(1, 3, {args.mem_size}, {args.mem_size}))
def data():
    g = torch.Generator().manual_seed(1)
    for _ in range({batches}):
        x = torch.randn({args.batch}, 3, {args.mem_size}, {args.mem_size}, generator=g)
        yield x, torch.randint(0, 10, ({args.batch},), generator=g)
p = prof.profile(data(), progress=False)
assert p.n_images == {batches} * {args.batch}
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--mem-batches", type=int, default=3, help="batches for the small memory run (10× for the large)"
    )
    ap.add_argument("--mem-size", type=int, default=64, help="image size for the memory runs")
    ap.add_argument(
        "--update-batch", type=int, default=64, help="batch size of the statistics-update benchmark"
    )
    ap.add_argument(
        "--stream-batches", type=int, default=4, help="batches per profile() call in the overhead run"
    )
    ap.add_argument("--update-warmup", type=int, default=20, help="untimed batches before the update timing")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {args.threads} thread(s)"
    print(
        f"resnet18 (weights=None), batch {args.batch}×3×{args.size}×{args.size}, {dev}, median of "
        f"{args.repeats}"
    )
    t = timings(args)
    base = t["plain forward"]
    targets = {
        "forward + signals (mean)": 1.10,
        "forward + signals (max)": 1.5,
        "profile() per batch (mean)": 1.10,
    }
    print(f"{'run':28s} {'median s':>9s} {'images/s':>9s} {'× plain':>8s}  target")
    for name, sec in t.items():
        ratio = sec / base
        tgt = targets.get(name)
        verdict = "" if tgt is None else f"≤ {tgt:.2f}× {'met' if ratio <= tgt else 'MISSED'}"
        print(f"{name:28s} {sec:9.3f} {args.batch / sec:9.1f} {ratio:8.3f}  {verdict}")
    u = update_timings(args)
    old, new = u["previous accumulator"], u["LayerStats (in place)"]
    print(
        f"per-batch update, ResNet-50's {len(resnet50_ranks())} layers, 1000 classes, batch "
        f"{args.update_batch}: previous {old * 1e3:.1f} ms, now {new * 1e3:.1f} ms: {old / new:.2f}× faster "
        f"(target ≥ 1.8×: {'met' if old / new >= 1.8 else 'MISSED'})"
    )
    small = peak_rss_child(args.mem_batches, args)
    large = peak_rss_child(10 * args.mem_batches, args)
    growth = large / small
    print(
        f"peak RSS profiling {args.mem_batches} batches: {small:.0f} MB; {10 * args.mem_batches} batches: "
        f"{large:.0f} MB; ratio {growth:.3f} (flat target ≤ 1.05: {'met' if growth <= 1.05 else 'MISSED'})"
    )
    print(
        json.dumps(
            {"ratios": {k: v / base for k, v in t.items()}, "rss_ratio": growth, "update_speedup": old / new}
        )
    )


if __name__ == "__main__":
    main()
