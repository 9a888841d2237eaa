"""Widget latency on resnet50 (weights=None): the explorer's first display and a layer change (issue 4).

Measured in one run on this machine, kernel side, with every widget message serialised to JSON as a
kernel would (a recording comm stands in for the front end):

- build: `explore(resnet50)` until every widget of the first display exists with its state serialised
  (target <= 5 s);
- layer change: `selection.layer = name` until every view has updated, median over the layers, each
  layer already decomposed once (target <= 100 ms);
- reference: the plain `SpectralAnalysis(resnet50).metrics()` time (all layers' singular values and fits).

    python benchmarks/widgets.py [--threads 1] [--profile-images 0] [--layers all|N]

--profile-images N also profiles N random 224x224 images, so the hypergraph and neuron views take part
(this computes the full SVD of every layer first, which takes a while on a CPU).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import torch
import torchvision


class JSONComm:
    """Stands in for a kernel comm: serialises every message to JSON and counts messages and bytes."""

    messages = 0
    nbytes = 0

    def __init__(self, **kwargs: Any) -> None:
        self.comm_id = kwargs.get("comm_id") or f"bench-{id(self)}"
        self.kernel = "bench"
        self._count(kwargs.get("data"), kwargs.get("buffers"))

    @classmethod
    def _count(cls, data: Any, buffers: Any) -> None:
        cls.messages += 1
        cls.nbytes += len(json.dumps(data, default=str)) + sum(memoryview(b).nbytes for b in buffers or [])

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        self._count(data, buffers)

    def on_msg(self, callback: Any) -> None:
        pass

    def on_close(self, callback: Any) -> None:
        pass

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass


def install_comm() -> None:
    import ipywidgets.comm

    ipywidgets.comm.create_comm = lambda **kwargs: JSONComm(**kwargs)


def resnet50() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet50(weights=None).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile-images", type=int, default=0)
    parser.add_argument("--layers", default="all", help="'all' or every N-th layer")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    install_comm()
    import ddp_widgets as dw
    from ddp_widgets.widgets import explore

    torch.linalg.svdvals(torch.randn(64, 64))  # warm up LAPACK outside the timings

    # 1. first display
    model = resnet50()
    data = torch.randn(args.profile_images, 3, 224, 224) if args.profile_images else None
    labels = torch.arange(args.profile_images) % 4 if args.profile_images else None
    t0 = time.perf_counter()
    ex = explore(model, data, labels, progress=False)
    ex._repr_mimebundle_()
    build = time.perf_counter() - t0
    assert not ex.messages and all(v.last_error is None for v in ex.views), (
        ex.messages,
        [v.last_traceback for v in ex.views],
    )
    build_msgs, build_bytes = JSONComm.messages, JSONComm.nbytes

    # 2. layer changes, after each layer's first decomposition
    names = ex.analysis.names if args.layers == "all" else ex.analysis.names[:: int(args.layers)]
    first = []
    for name in names:
        t = time.perf_counter()
        ex.selection.layer = name
        first.append(time.perf_counter() - t)
    ex.selection.layer = names[-1]
    times, msgs, nbytes = [], [], []
    for name in names:
        m0, b0 = JSONComm.messages, JSONComm.nbytes
        t = time.perf_counter()
        ex.selection.layer = name
        times.append(time.perf_counter() - t)
        msgs.append(JSONComm.messages - m0)
        nbytes.append(JSONComm.nbytes - b0)
    errors = [f"{type(v).__name__}: {v.last_error}" for v in ex.views if v.last_error is not None]
    assert not errors, errors

    # 3. reference: the plain analysis of all layers
    fresh = resnet50()
    t = time.perf_counter()
    sa = dw.SpectralAnalysis(fresh, progress=False)
    init = time.perf_counter() - t
    t = time.perf_counter()
    sa.metrics()
    metrics = time.perf_counter() - t

    median = statistics.median(times)
    print(
        f"resnet50 (weights=None), {len(ex.analysis.names)} layers, torch threads {args.threads}, "
        f"profile images {args.profile_images}, views: {', '.join(type(v).__name__ for v in ex.views)}"
    )
    print(
        f"first explore(resnet50) display:   {build:7.2f} s   ({build_msgs} messages, "
        f"{build_bytes / 1e6:.2f} MB)   target <= 5 s   {'OK' if build <= 5 else 'MISSED'}"
    )
    print(
        f"layer change, all views updated:  {median * 1e3:7.1f} ms  median over {len(times)} layers (p90 "
        f"{statistics.quantiles(times, n=10)[-1] * 1e3:.1f} ms, max {max(times) * 1e3:.1f} ms; "
        f"{statistics.median(msgs):.0f} messages, {statistics.median(nbytes) / 1e3:.0f} kB)   target <= 100 "
        f"ms   {'OK' if median <= 0.1 else 'MISSED'}"
    )
    print(
        f"  first visit of a layer (decomposition + views): median {statistics.median(first) * 1e3:.0f} ms, "
        f"max {max(first) * 1e3:.0f} ms"
    )
    print(f"reference SpectralAnalysis(resnet50): init (probe pass) {init:.2f} s, metrics() {metrics:.2f} s")
    print(
        f"ratios: build / metrics() = {build / metrics:.2f}, layer change / (metrics() per layer) = "
        f"{median / (metrics / len(sa.names)):.2f}"
    )


if __name__ == "__main__":
    main()
