"""Profiling overhead: plain forward vs forward + SVD-neuron signals of every layer (issue 3).

resnet18 (weights=None), batches of 32 random 224×224 images, one thread by default. Prints medians and
ratios measured in this run; targets: mean aggregation ≤ 1.10× the plain forward, max ≤ 1.5×; peak memory
flat when the number of profiled batches grows 10× (each measured in a fresh child process).

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

    runs = {"plain forward": plain, "forward + signals (mean)": lambda: prof.signals(x, "mean"),
            "forward + signals (max)": lambda: prof.signals(x, "max")}
    samples: dict[str, list[float]] = {k: [] for k in runs}
    for fn in runs.values():  # warm-up
        fn()
    for _ in range(args.repeats):
        for name, fn in runs.items():  # interleaved, so drift hits all three alike
            sync(args.device)
            t = time.perf_counter()
            fn()
            sync(args.device)
            samples[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in samples.items()}


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
        yield torch.randn({args.batch}, 3, {args.mem_size}, {args.mem_size}, generator=g), torch.randint(0, 10, ({args.batch},), generator=g)
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
    ap.add_argument("--mem-batches", type=int, default=3, help="batches for the small memory run (10× for the large)")
    ap.add_argument("--mem-size", type=int, default=64, help="image size for the memory runs")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {args.threads} thread(s)"
    print(f"resnet18 (weights=None), batch {args.batch}×3×{args.size}×{args.size}, {dev}, median of {args.repeats}")
    t = timings(args)
    base = t["plain forward"]
    targets = {"forward + signals (mean)": 1.10, "forward + signals (max)": 1.5}
    print(f"{'run':28s} {'median s':>9s} {'images/s':>9s} {'× plain':>8s}  target")
    for name, sec in t.items():
        ratio = sec / base
        tgt = targets.get(name)
        verdict = "" if tgt is None else f"≤ {tgt:.2f}× {'met' if ratio <= tgt else 'MISSED'}"
        print(f"{name:28s} {sec:9.3f} {args.batch / sec:9.1f} {ratio:8.3f}  {verdict}")
    small = peak_rss_child(args.mem_batches, args)
    large = peak_rss_child(10 * args.mem_batches, args)
    growth = large / small
    print(f"peak RSS profiling {args.mem_batches} batches: {small:.0f} MB; {10 * args.mem_batches} batches: {large:.0f} MB; "
          f"ratio {growth:.3f} (flat target ≤ 1.05: {'met' if growth <= 1.05 else 'MISSED'})")
    print(json.dumps({"ratios": {k: v / base for k, v in t.items()}, "rss_ratio": growth}))


if __name__ == "__main__":
    main()
