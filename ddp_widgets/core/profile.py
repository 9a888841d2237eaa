"""SVD-neuron signals (PAPER §2): projection, aggregation over positions, DDP's influence rule, capture hooks.

For a weighted module with output Y (before BatchNorm and activation) and bias b, the SVD-neuron
signals are S = Uᵀ(Y − b) = Σ Vᵀ unfold(x): one value per SVD neuron and output position. They are
aggregated over positions by one of the AGGREGATIONS (mean is computed mean-first, Uᵀ(mean(Y) − b),
identical by linearity and several times cheaper). Streaming per-class statistics live in `accumulator`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from .errors import InvalidArgumentError, UnknownOptionError

CALLS = ("first", "all")


def _channels_last(y: torch.Tensor, linear: bool) -> torch.Tensor:
    """(B, d, *spatial) or Linear's (B, *, d) -> (B, positions, d)."""
    if linear:
        return y.reshape(y.shape[0], -1, y.shape[-1])
    return y.reshape(y.shape[0], y.shape[1], -1).transpose(1, 2)


def project(
    y: torch.Tensor, projection: torch.Tensor, bias: torch.Tensor | None, linear: bool = False
) -> torch.Tensor:
    """Full per-position signals Uᵀ(Y − b): (B, R, *spatial) for conv, (B, R, *extra) for Linear."""
    p = projection.to(y.dtype)
    flat = _channels_last(y, linear)  # (B, positions, d)
    if bias is not None:
        flat = flat - bias.to(flat.dtype)
    s = (flat @ p.T).transpose(1, 2)  # (B, R, positions)
    spatial = tuple(y.shape[1:-1]) if linear else tuple(y.shape[2:])
    return s.reshape(y.shape[0], p.shape[0], *spatial)


def _mean_signals(y: torch.Tensor, p: torch.Tensor, bias: torch.Tensor | None, linear: bool) -> torch.Tensor:
    m = _channels_last(y, linear).mean(1)  # (B, d): mean over positions
    if bias is not None:
        m = m - bias.to(m.dtype)
    return m @ p.to(y.dtype).T


def _extreme(reduce: Callable[[torch.Tensor], torch.Tensor]) -> Callable[..., torch.Tensor]:
    def signals(y: torch.Tensor, p: torch.Tensor, bias: torch.Tensor | None, linear: bool) -> torch.Tensor:
        s = project(y, p, bias, linear=linear)
        return reduce(s.reshape(s.shape[0], s.shape[1], -1))

    return signals


def _pool_mean(a: torch.Tensor, na: int, b: torch.Tensor, nb: int) -> torch.Tensor:
    return (a * na + b * nb) / (na + nb)


@dataclass(frozen=True)
class Aggregation:
    """How the per-position signals of one call become one value per SVD neuron.

    signals(y, P, b, linear) -> (B, R); pool(a, positions_a, b, positions_b) combines two calls of the
    module in one forward pass as if their positions had been one map (calls="all").
    """

    name: str
    label: str
    signals: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None, bool], torch.Tensor]
    pool: Callable[[torch.Tensor, int, torch.Tensor, int], torch.Tensor]


AGGREGATIONS: dict[str, Aggregation] = {
    a.name: a
    for a in (
        Aggregation("mean", "mean over positions", _mean_signals, _pool_mean),
        Aggregation(
            "max",
            "maximum over positions",
            _extreme(lambda s: s.amax(-1)),
            lambda a, _na, b, _nb: torch.maximum(a, b),
        ),
        Aggregation(
            "min",
            "minimum over positions",
            _extreme(lambda s: s.amin(-1)),
            lambda a, _na, b, _nb: torch.minimum(a, b),
        ),
    )
}


def get_aggregation(name: object) -> Aggregation:
    """The registered aggregation called `name`; the one place where aggregation names are checked."""
    if isinstance(name, Aggregation):
        return name
    if not isinstance(name, str) or name not in AGGREGATIONS:
        raise UnknownOptionError(
            f"unknown aggregation {name!r}: use one of {', '.join(map(repr, AGGREGATIONS))}"
        )
    return AGGREGATIONS[name]


def positions(y: torch.Tensor, linear: bool) -> int:
    """How many output positions one sample of the module output y has."""
    return int(_channels_last(y, linear).shape[1])


def aggregate_signals(
    y: torch.Tensor,
    projection: torch.Tensor,
    bias: torch.Tensor | None,
    how: str = "mean",
    linear: bool = False,
) -> torch.Tensor:
    """Aggregated SVD-neuron signals (B, R) of a module output y, given P = block-diagonal Uᵀ (R, d)."""
    return get_aggregation(how).signals(y, projection, bias, linear)


INFLUENCE_CANDIDATES = 64  # neurons ranked first; all of them only when these do not reach the threshold


def influential(agg: torch.Tensor, threshold: float = 0.1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DDP's influential SVD neurons of each row of `agg` (B, R).

    Sort |agg| descending and take cumulative shares (in float64, whatever agg's dtype); keep the neurons
    whose cumulative share is ≤ t, plus one more. Returns (mask, ddp_weights, weights), each (B, R) in
    neuron order, the weights in float64:
    - ddp_weights: DeepDataProfiler's values, |agg| divided by the cumulative sum at the last neuron within
      t (by the total when even the first neuron exceeds t), so kept weights may sum to more than 1;
    - weights: |agg| of the kept neurons normalised to sum to 1.
    Only the largest INFLUENCE_CANDIDATES values are ranked unless they stay within t (then all are).
    """
    check_threshold(threshold)
    a = agg.abs()
    r = a.shape[1]
    total = a.to(torch.float64).sum(dim=1, keepdim=True)
    k = min(r, INFLUENCE_CANDIDATES)
    if k == r:
        vals, order = torch.sort(a, dim=1, descending=True)
        return _rule(vals.to(torch.float64), order, total, threshold, r)[:3]
    vals, order = torch.topk(a, k, dim=1)
    mask, ddp_w, w, short = _rule(vals.to(torch.float64), order, total, threshold, r)
    rows = torch.nonzero(short).flatten()
    if rows.numel():  # rows whose k largest stay within t: rank all their neurons
        vals, order = torch.sort(a[rows], dim=1, descending=True)
        full = _rule(vals.to(torch.float64), order, total[rows], threshold, r)
        mask[rows], ddp_w[rows], w[rows] = full[0], full[1], full[2]
    return mask, ddp_w, w


def _rule(
    vals: torch.Tensor,
    order: torch.Tensor,
    total: torch.Tensor,
    threshold: float,
    r: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The rule on the k largest |values| (descending, float64) of each row, in neuron order.

    The fourth tensor marks the rows for which k values were too few (all k within t, k < r).
    """
    tiny = torch.finfo(torch.float64).tiny
    k = vals.shape[1]
    total = total.clamp_min(tiny)
    cum = torch.cumsum(vals, dim=1)
    accept = ((cum / total) <= threshold).sum(dim=1)  # neurons within t
    short = (accept >= k) & (k < r)
    kept_sorted = torch.arange(k, device=vals.device)[None, :] <= accept[:, None].clamp(max=r - 1)
    denom = torch.gather(cum, 1, (accept - 1).clamp(min=0)[:, None])
    denom = torch.where(accept[:, None] > 0, denom, total).clamp_min(tiny)
    zero = torch.zeros((), dtype=torch.float64, device=vals.device)
    ddp_sorted = torch.where(kept_sorted, vals / denom, zero)
    kept_sum = (vals * kept_sorted).sum(dim=1, keepdim=True).clamp_min(tiny)
    norm_sorted = torch.where(kept_sorted, vals / kept_sum, zero)

    def unsort(x: torch.Tensor) -> torch.Tensor:  # back to neuron order: a scatter, cheaper than argsort
        return x.new_zeros((x.shape[0], r)).scatter_(1, order, x)

    return unsort(kept_sorted), unsort(ddp_sorted), unsort(norm_sorted), short


@dataclass
class SignalSpec:
    """What a hook needs to turn one module's output into signals."""

    projection: torch.Tensor  # (R, d), on the module's device
    bias: torch.Tensor | None
    linear: bool


def check_threshold(threshold: object) -> float:
    """The influence rule's t, a number in [0, 1]; anything else names the parameter."""
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float))
        or not 0.0 <= float(threshold) <= 1.0
    ):
        raise InvalidArgumentError(
            f"threshold must be a number in [0, 1] (the share of |signal| kept), got {threshold!r}"
        )
    return float(threshold)


class SignalCapture(dict):
    """name -> signals of one forward pass, plus `calls`: how often each hooked module ran in that pass."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, int] = {}
        self._positions: dict[str, int] = {}


@contextlib.contextmanager
def capture_signals(
    modules: dict[str, nn.Module],
    specs: dict[str, SignalSpec],
    how: str = "mean",
    full: bool = False,
    *,
    detach: bool = True,
    calls: str = "first",
) -> Iterator[SignalCapture]:
    """Within the block, each forward pass fills the yielded dict: name -> signals.

    Aggregated (B, R) by default, full per-position maps (first call) with full=True. A module called several
    times per pass contributes its first call (calls="first") or all its calls pooled as one map of positions
    (calls="all"; the calls must share the batch size); `capture.calls` counts the calls either way.
    Outputs are detached unless detach=False, which keeps the autograd graph so that the signals can be
    differentiated with respect to the input (feature visualisation). Hooks are removed on exit, whether
    the block succeeds or raises.
    """
    agg = get_aggregation(how)
    if calls not in CALLS:
        raise UnknownOptionError(f"unknown calls={calls!r}: use 'first' (the default) or 'all'")
    out = SignalCapture()
    handles = []

    def make(name: str) -> Callable:
        spec = specs[name]

        def hook(_mod, _inputs, y):
            out.calls[name] = out.calls.get(name, 0) + 1
            if name in out and (calls == "first" or full):
                return  # keep the first call
            if detach:
                y = y.detach()
            if full:
                out[name] = project(y, spec.projection, spec.bias, spec.linear)
                return
            s, n = agg.signals(y, spec.projection, spec.bias, spec.linear), positions(y, spec.linear)
            if name in out:
                if out[name].shape != s.shape:
                    raise InvalidArgumentError(
                        f"calls='all' pools the calls of '{name}', but its calls saw batches of different "
                        f"sizes ({out[name].shape[0]} and {s.shape[0]}): profile it with calls='first'"
                    )
                s, n = agg.pool(out[name], out._positions[name], s, n), out._positions[name] + n
            out[name], out._positions[name] = s, n
            return

        return hook

    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(make(name)))
        yield out
    finally:
        for h in handles:
            h.remove()
