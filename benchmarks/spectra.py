"""Spectral analysis speed: `SpectralAnalysis(model).metrics()` against references, in one run (issue 2).

For torchvision resnet18, resnet50 and vgg16 (weights=None, seeded, one thread) it times, per model:

- ours:   SpectralAnalysis(model, progress=False).metrics(), median of --repeats, a fresh analysis object
          each time; the probe forward pass (done by the constructor) is timed separately, not included;
          the power-law x_min scan covers every candidate; then metrics() again on the same object, where
          the weights are unchanged, so nothing may be recomputed (counted with `SpectralAnalysis.computed`);
- limit:  torch.linalg.svdvals of every unfolded matrix in tall orientation, same-shape matrices batched
          (and a plain loop; the faster of the two is the limit), median of --repeats;
- DDP:    a DeepDataProfiler-style reference: full torch.linalg.svd (U, S, V) per layer plus
          powerlaw.Fit per layer, once;
- WW:     weightwatcher's WeightWatcher(model).analyze(), once, when weightwatcher is importable.

Targets: ours <= 1.5x the limit, >= 10x faster than DDP, >= 3x faster than WW; metrics() for vgg16
never forms U or V and peaks below 3 GB (measured in a child process with resource.getrusage).

    python benchmarks/spectra.py [--models resnet18,resnet50,vgg16] [--repeats 3] [--no-weightwatcher]
                                 [--no-ddp] [--no-memory] [--profile MODEL]
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy/scipy (powerlaw, weightwatcher): one thread too
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import contextlib
import io
import json
import logging
import math
import resource
import statistics
import subprocess
import time
import warnings

import torch
import torchvision
from torch import nn

WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
TARGETS = {"limit": 1.5, "ddp": 10.0, "ww": 3.0, "memory_gb": 3.0}


def build(name: str) -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.get_model(name, weights=None).eval()


def unfolded(model: nn.Module) -> list[torch.Tensor]:
    """Every Conv/Linear weight as (groups, rows, cols), done here independently of ddp_widgets."""
    out = []
    for m in model.modules():
        if isinstance(m, WEIGHTED):
            g = getattr(m, "groups", 1)
            w = m.weight.detach()
            out.append(w.reshape(g, w.shape[0] // g, -1))
    return out


def tall(m: torch.Tensor) -> torch.Tensor:
    return m if m.shape[-2] >= m.shape[-1] else m.transpose(-2, -1)


def limit_batched(model: nn.Module) -> None:
    buckets: dict[tuple, list[torch.Tensor]] = {}
    for m in unfolded(model):
        t = tall(m)
        buckets.setdefault(tuple(t.shape[-2:]), []).append(t)
    for same in buckets.values():
        torch.linalg.svdvals(torch.cat(same) if len(same) > 1 else same[0])


def limit_loop(model: nn.Module) -> None:
    for m in unfolded(model):
        torch.linalg.svdvals(tall(m))


def ddp_reference(model: nn.Module) -> None:
    """What DeepDataProfiler-style code does: a full SVD per layer, then powerlaw.Fit on its ESD."""
    import powerlaw

    for m in unfolded(model):
        for block in m:
            _u, s, _vh = torch.linalg.svd(block, full_matrices=False)
            ev = (s.double() ** 2 / block.shape[0]).numpy()  # DDP divides by the number of rows
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                fit = powerlaw.Fit(ev, verbose=False)
                _ = (fit.power_law.alpha, fit.power_law.D)


def weightwatcher_analyze(model: nn.Module) -> None:
    import weightwatcher as ww

    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        ww.WeightWatcher(model=model).analyze()


def weightwatcher_available() -> bool:
    try:
        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            import weightwatcher  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means: skip this reference
        return False
    return True


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_model(name: str, args) -> dict[str, float]:
    from ddp_widgets import SpectralAnalysis

    model = build(name)
    n_layers = len(unfolded(model))
    probe, ours, again, limit_b, limit_l = [], [], [], [], []
    recomputed = 0
    for _ in range(args.repeats):  # interleaved, so drift hits all alike
        t = time.perf_counter()
        sa = SpectralAnalysis(model, progress=False)  # the probe pass: timed apart
        probe.append(time.perf_counter() - t)
        ours.append(timed(sa.metrics))
        done = sum(sa.computed.values())
        again.append(timed(sa.metrics))  # unchanged model: the caches answer, nothing is recomputed
        recomputed += sum(sa.computed.values()) - done
        limit_b.append(timed(lambda: limit_batched(model)))
        limit_l.append(timed(lambda: limit_loop(model)))
    row = {
        "layers": n_layers,
        "probe": statistics.median(probe),
        "ours": statistics.median(ours),
        "again": statistics.median(again),
        "recomputed": recomputed,
        "limit_batched": statistics.median(limit_b),
        "limit_loop": statistics.median(limit_l),
    }
    row["limit"] = min(row["limit_batched"], row["limit_loop"])
    row["ddp"] = timed(lambda: ddp_reference(model)) if args.ddp else math.nan
    row["ww"] = timed(lambda: weightwatcher_analyze(model)) if args.ww else math.nan
    return row


def _vm(key: str) -> int:
    """A /proc/self/status memory figure (VmRSS, VmHWM) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def memory_child(name: str) -> None:
    """Run in a fresh process: RSS and peak RSS around metrics() on `name`, and whether U or V was formed.

    ru_maxrss survives fork/exec (it would report the parent's peak), so the peak is read from VmHWM,
    which is reset just before metrics() (writing 5 to /proc/self/clear_refs).
    """
    from ddp_widgets import SpectralAnalysis

    svd_calls = []
    real_svd = torch.linalg.svd
    torch.linalg.svd = lambda *a, **k: svd_calls.append(1) or real_svd(*a, **k)  # count U/V formations
    model = build(name)
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    sa = SpectralAnalysis(model, progress=False)
    peak_before = _vm("VmHWM")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    rss_before = _vm("VmRSS")
    sa.metrics()
    print(
        json.dumps(
            {
                "params": params,
                "rss_before": rss_before,
                "peak_before": peak_before,
                "peak": _vm("VmHWM"),
                "reset": reset,
                "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "svd_calls": len(svd_calls),
                "svd_objects": sa.computed["svd"],
            }
        )
    )


def measure_memory(name: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--memory-child", name], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def profile_model(name: str) -> None:
    import cProfile
    import pstats

    from ddp_widgets import SpectralAnalysis

    sa = SpectralAnalysis(build(name), progress=False)
    prof = cProfile.Profile()
    prof.runcall(sa.metrics)
    pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


def fmt(x: float, unit: str = "") -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3f}{unit}" if x < 10 else f"{x:.1f}{unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models", default="resnet18,resnet50,vgg16", help="comma-separated torchvision names"
    )
    parser.add_argument("--repeats", type=int, default=3, help="repeats of ours and the limit (median)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-ddp", dest="ddp", action="store_false", help="skip the DDP-style reference")
    parser.add_argument("--no-weightwatcher", dest="ww", action="store_false", help="skip weightwatcher")
    parser.add_argument(
        "--no-memory", dest="memory", action="store_false", help="skip the vgg16 memory child"
    )
    parser.add_argument("--profile", metavar="MODEL", help="cProfile metrics() on MODEL and exit")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args.memory_child)
        return
    if args.profile:
        profile_model(args.profile)
        return
    if args.ww and not weightwatcher_available():
        print("weightwatcher is not importable: its column is skipped (pip install weightwatcher)")
        args.ww = False

    torch.linalg.svdvals(torch.randn(64, 32))  # load LAPACK before anything is timed
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), repeats={args.repeats}; times in "
        "seconds"
    )
    head = (
        f"{'model':10s} {'layers':>6s} {'probe':>7s} {'ours':>7s} {'limit':>7s} {'ours/limit':>10s} "
        f"{'DDP-ref':>8s} {'DDP/ours':>8s} {'WW':>8s} {'WW/ours':>8s}"
    )
    print(head)
    print("-" * len(head))
    rows = {}
    for name in models:
        r = rows[name] = bench_model(name, args)
        print(
            f"{name:10s} {r['layers']:6d} {fmt(r['probe']):>7s} {fmt(r['ours']):>7s} {fmt(r['limit']):>7s} "
            f"{fmt(r['ours'] / r['limit'], 'x'):>10s} {fmt(r['ddp']):>8s} "
            f"{fmt(r['ddp'] / r['ours'], 'x'):>8s} {fmt(r['ww']):>8s} {fmt(r['ww'] / r['ours'], 'x'):>8s}",
            flush=True,
        )
    print(
        "unchanged model, metrics() again on the same analysis: "
        + ", ".join(
            f"{n} {fmt(r['again'] * 1000)} ms, {r['recomputed']} values recomputed" for n, r in rows.items()
        )
    )
    print(
        "limit = faster of batched-by-shape and looped svdvals: "
        + ", ".join(f"{n} {fmt(r['limit_batched'])}/{fmt(r['limit_loop'])}" for n, r in rows.items())
    )

    print("\ntargets:")
    for name, r in rows.items():
        checks = [
            ("ours <= 1.5x limit", r["ours"] / r["limit"] <= TARGETS["limit"]),
            ("unchanged model recomputes nothing", r["recomputed"] == 0),
        ]
        if math.isfinite(r["ddp"]):
            checks.append(("DDP-ref >= 10x ours", r["ddp"] / r["ours"] >= TARGETS["ddp"]))
        if math.isfinite(r["ww"]):
            checks.append(("WW >= 3x ours", r["ww"] / r["ours"] >= TARGETS["ww"]))
        print(f"  {name:10s} " + "; ".join(f"{label}: {'met' if ok else 'MISSED'}" for label, ok in checks))

    if args.memory and "vgg16" in models:
        mem = measure_memory("vgg16")
        gb = 1024**3
        peak = mem["peak"] if mem["reset"] else max(mem["peak"], mem["rss_before"])
        print(
            f"\nvgg16 metrics() memory (fresh process): weights {mem['params'] / gb:.2f} GB, process RSS "
            f"before metrics() {mem['rss_before'] / gb:.2f} GB (torch libraries + model + probe), peak RSS "
            f"during metrics() {peak / gb:.2f} "
            f"GB{'' if mem['reset'] else ' (an upper bound: peak not resettable)'}, i.e. metrics() adds "
            f"{(peak - mem['rss_before']) / gb:.2f} GB at its peak; target: peak < "
            f"{TARGETS['memory_gb']:.0f} GB: {'met' if peak < TARGETS['memory_gb'] * gb else 'MISSED'}"
        )
        print(
            "U or V formed during metrics(): "
            f"{'no' if mem['svd_calls'] == 0 and mem['svd_objects'] == 0 else 'YES'} (torch.linalg.svd "
            f"calls: {mem['svd_calls']})"
        )


if __name__ == "__main__":
    main()
