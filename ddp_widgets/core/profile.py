"""SVD-neuron signals (PAPER §2) and streaming accumulators for dataset profiles.

For a weighted module with output Y (before BatchNorm and activation) and bias b, the SVD-neuron
signals are S = Uᵀ(Y − b) = Σ Vᵀ unfold(x): one value per SVD neuron α and output position. They are
aggregated over positions by mean (computed mean-first, Uᵀ(mean(Y) − b), identical by linearity and
several times cheaper), max or min.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

AGGREGATIONS = ("mean", "max", "min")


def _channels_last(y: torch.Tensor, linear: bool) -> torch.Tensor:
    """(B, d, *spatial) or Linear's (B, *, d) -> (B, positions, d)."""
    if linear:
        return y.reshape(y.shape[0], -1, y.shape[-1])
    return y.reshape(y.shape[0], y.shape[1], -1).transpose(1, 2)


def aggregate_signals(
    y: torch.Tensor, projection: torch.Tensor, bias: torch.Tensor | None, how: str = "mean", linear: bool = False
) -> torch.Tensor:
    """Aggregated SVD-neuron signals (B, R) of a module output y, given P = block-diagonal Uᵀ (R, d)."""
    if how not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {how!r}: use one of {', '.join(AGGREGATIONS)}")
    p = projection.to(y.dtype)
    if how == "mean":
        m = _channels_last(y, linear).mean(1)  # (B, d): mean over positions
        if bias is not None:
            m = m - bias.to(m.dtype)
        return m @ p.T
    s = project(y, projection, bias, linear=linear)  # (B, R, positions)
    s = s.reshape(s.shape[0], s.shape[1], -1)
    return s.amax(-1) if how == "max" else s.amin(-1)


def project(y: torch.Tensor, projection: torch.Tensor, bias: torch.Tensor | None, linear: bool = False) -> torch.Tensor:
    """Full per-position signals Uᵀ(Y − b): (B, R, *spatial) for conv, (B, R, *extra) for Linear."""
    p = projection.to(y.dtype)
    flat = _channels_last(y, linear)  # (B, positions, d)
    if bias is not None:
        flat = flat - bias.to(flat.dtype)
    s = (flat @ p.T).transpose(1, 2)  # (B, R, positions)
    spatial = tuple(y.shape[1:-1]) if linear else tuple(y.shape[2:])
    return s.reshape(y.shape[0], p.shape[0], *spatial)


def influential(agg: torch.Tensor, threshold: float = 0.1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DDP's influential SVD neurons of each row of `agg` (B, R).

    Sort |agg| descending and take cumulative shares; keep the neurons whose cumulative share is ≤ t,
    plus one more. Returns (mask, ddp_weights, weights), each (B, R) in neuron order:
    - ddp_weights: DeepDataProfiler's values, |agg| divided by the cumulative sum at the last neuron within
      t (by the total when even the first neuron exceeds t), so kept weights may sum to more than 1;
    - weights: |agg| of the kept neurons normalised to sum to 1.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
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
    ddp_sorted = torch.where(kept_sorted, vals / denom.clamp_min(torch.finfo(cum.dtype).tiny), torch.zeros_like(vals))
    kept_sum = (vals * kept_sorted).sum(dim=1, keepdim=True).clamp_min(torch.finfo(cum.dtype).tiny)
    norm_sorted = torch.where(kept_sorted, vals / kept_sum, torch.zeros_like(vals))
    inverse = torch.argsort(order, dim=1)
    mask = torch.gather(kept_sorted, 1, inverse)
    return mask, torch.gather(ddp_sorted, 1, inverse), torch.gather(norm_sorted, 1, inverse)


@dataclass
class SignalSpec:
    """What a hook needs to turn one module's output into signals."""

    projection: torch.Tensor  # (R, d), on the module's device
    bias: torch.Tensor | None
    linear: bool


@contextlib.contextmanager
def capture_signals(
    modules: dict[str, nn.Module], specs: dict[str, SignalSpec], how: str = "mean", full: bool = False,
    *, detach: bool = True,
) -> Iterator[dict[str, torch.Tensor]]:
    """Within the block, each forward pass fills the yielded dict: name -> signals of the first call.

    Aggregated (B, R) by default, full per-position maps with full=True. Outputs are detached unless
    detach=False, which keeps the autograd graph so that the signals can be differentiated with respect to
    the input (feature visualisation). Hooks are removed on exit, whether the block succeeds or raises.
    """
    out: dict[str, torch.Tensor] = {}
    handles = []

    def make(name: str) -> Callable:
        spec = specs[name]

        def hook(_mod, _inputs, y):
            if name in out:
                return  # a module called more than once per pass: keep its first call
            if detach:
                y = y.detach()
            if full:
                out[name] = project(y, spec.projection, spec.bias, spec.linear)
            else:
                out[name] = aggregate_signals(y, spec.projection, spec.bias, how, spec.linear)

        return hook

    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(make(name)))
        yield out
    finally:
        for h in handles:
            h.remove()


@dataclass
class LayerAccumulator:
    """Running per-class statistics of one layer's aggregated signals; memory is independent of N."""

    rank: int
    top_n: int
    threshold: float
    n_classes: int = 0
    count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    sum: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    sumsq: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    infl_count: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    infl_ddp: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    infl_weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    top_score: np.ndarray | None = None  # (n, R) descending per column
    top_index: np.ndarray | None = None  # (n, R) dataset indices

    def grow(self, n_classes: int) -> None:
        if n_classes <= self.n_classes:
            return
        extra = n_classes - self.n_classes
        r = self.rank

        def pad(a: np.ndarray, dtype) -> np.ndarray:
            base = a if a.size else np.zeros((0, r), dtype)
            return np.concatenate([base, np.zeros((extra, r), dtype)])

        self.count = np.concatenate([self.count, np.zeros(extra, np.int64)])
        self.sum, self.sumsq = pad(self.sum, np.float64), pad(self.sumsq, np.float64)
        self.infl_count = pad(self.infl_count, np.int64)
        self.infl_ddp, self.infl_weight = pad(self.infl_ddp, np.float64), pad(self.infl_weight, np.float64)
        self.n_classes = n_classes

    def update(self, signals: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor) -> None:
        """Add a batch: signals (B, R) on any device, labels (B,) int64 CPU, dataset indices (B,)."""
        mask, ddp_w, w = influential(signals, self.threshold)
        lab = labels.to(signals.device)
        c = self.n_classes

        def per_class(x: torch.Tensor) -> np.ndarray:
            acc = torch.zeros(c, x.shape[1], dtype=torch.float64, device=x.device)
            acc.index_add_(0, lab, x.to(torch.float64))
            return acc.cpu().numpy()

        self.count += np.bincount(labels.numpy(), minlength=c)
        self.sum += per_class(signals)
        self.sumsq += per_class(signals.to(torch.float64) ** 2)
        self.infl_count += per_class(mask).astype(np.int64)
        self.infl_ddp += per_class(ddp_w)
        self.infl_weight += per_class(w)
        self._update_top(signals, indices)

    def _update_top(self, signals: torch.Tensor, indices: torch.Tensor) -> None:
        s = signals.detach().to(torch.float64).cpu()
        idx = indices.reshape(-1, 1).expand_as(s)
        if self.top_score is not None:
            s = torch.cat([torch.from_numpy(self.top_score), s])
            idx = torch.cat([torch.from_numpy(self.top_index), idx])
        k = min(self.top_n, s.shape[0])
        score, pos = torch.topk(s, k, dim=0)  # ties: torch picks deterministically for the same input
        self.top_score = score.numpy()
        self.top_index = torch.gather(idx, 0, pos).numpy()
