"""Streaming per-class statistics of one layer's aggregated SVD-neuron signals; mergeable, memory independent
of N.

A `LayerStats` holds persistent tensors on the signals' device, updated in place per batch:
- count (C,): images per class; nonfinite (C, R): NaN/Inf signals (left out of every other field);
- sum, sumsq (C, R) float64; infl_count (C, R) int64, infl_ddp / infl_weight (C, R) float64 (DDP's rule);
- top_score / top_index (n, R): the n largest signals of each SVD neuron with their dataset indices, ties
  broken by the smaller index; bottom_score / bottom_index (n, R): the n smallest, i.e. the top-n of the
  negated signal. Unused slots hold (∓inf, -1).
Per batch the work is O(batch × neurons): classes only enter as the rows that are added to. On CUDA the
class sums go through a small dense product over the batch's classes, so that no atomic adds make them
depend on thread timing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch

from .profile import influential

CLASS_FIELDS = ("count", "nonfinite", "sum", "sumsq", "infl_count", "infl_ddp", "infl_weight")
RANK_FIELDS = ("top_score", "top_index", "bottom_score", "bottom_index")
INT_FIELDS = ("count", "nonfinite", "infl_count", "top_index", "bottom_index")
EMPTY_INDEX = -1


def _select_exact(score: torch.Tensor, index: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """select_top by two stable sorts (index ascending, then score descending); any input."""
    key = torch.where(index < 0, torch.iinfo(torch.int64).max, index)
    by_index = torch.sort(key.T, dim=1, stable=True).indices.T
    score, index = torch.gather(score, 0, by_index), torch.gather(index, 0, by_index)
    by_score = torch.sort(score.T, dim=1, descending=True, stable=True).indices.T[:n]
    return torch.gather(score, 0, by_score), torch.gather(index, 0, by_score)


def select_top(score: torch.Tensor, index: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per column, the n entries with the largest score, ties by the smaller index: (n, R) each.

    score (m, R) float64 with -inf for empty/excluded entries, index (m, R) int64. Deterministic: the result
    depends only on the set of (score, index) pairs, not on their order. Fast path: one topk; columns where
    a tie touches the selection (rare, except for empty slots) are redone by two stable sorts.
    """
    m = score.shape[0]
    if m == 0 or n == 0:
        return score[:n], index[:n]
    if m < n:  # pad with empty slots
        score = torch.cat([score, score.new_full((n - m, score.shape[1]), float("-inf"))])
        index = torch.cat([index, index.new_full((n - m, index.shape[1]), EMPTY_INDEX)])
    st, it = score.T.contiguous(), index.T.contiguous()  # (R, m): rows are contiguous for topk
    vals, pos = torch.topk(st, n, dim=1, sorted=True)
    idx = torch.gather(it, 1, pos)
    tied = (st >= vals[:, -1:]).sum(1) != n  # another entry equals the n-th score
    if n > 1:
        tied |= (vals[:, 1:] == vals[:, :-1]).any(1)  # equal scores inside the selection
    cols = torch.nonzero(tied).flatten()
    vals, idx = vals.T.contiguous(), idx.T.contiguous()
    if cols.numel():
        vals[:, cols], idx[:, cols] = _select_exact(score[:, cols], index[:, cols], n)
    idx = torch.where(torch.isinf(vals), EMPTY_INDEX, idx)
    return vals, idx


def _keep_best(
    score: torch.Tensor,
    index: torch.Tensor,
    new: torch.Tensor,
    new_index: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The best n of (score, index) (n, R) and a batch (B, R) with indices (B,); only columns a new entry can
    enter."""
    cols = torch.nonzero(new.amax(0) >= score[-1]).flatten()  # ≥: a tie with the n-th may win by its index
    if cols.numel() == 0:
        return score, index
    cand_s = torch.cat([score[:, cols], new[:, cols]])
    cand_i = torch.cat([index[:, cols], new_index.reshape(-1, 1).expand(-1, cols.numel())])
    score[:, cols], index[:, cols] = select_top(cand_s, cand_i, score.shape[0])
    return score, index


def _class_add(
    target: torch.Tensor, labels: torch.Tensor, values: torch.Tensor, dense: bool | None = None
) -> None:
    """target[labels[i]] += values[i] for every row i, deterministically on any device.

    The CPU adds row by row (index_add_); other devices (dense=True) multiply a one-hot matrix of the batch's
    classes, so that no atomic adds make the sums depend on thread timing.
    """
    if labels.numel() == 0:
        return
    if not (target.device.type != "cpu" if dense is None else dense):
        target.index_add_(0, labels, values.to(target.dtype))
        return
    classes, inverse = torch.unique(labels, return_inverse=True)
    onehot = torch.zeros(classes.numel(), labels.numel(), dtype=torch.float64, device=target.device)
    onehot[inverse, torch.arange(labels.numel(), device=target.device)] = 1.0
    part = onehot @ values.to(torch.float64)
    target[classes] += part.round().to(target.dtype) if not target.is_floating_point() else part


@dataclass
class LayerStats:
    """Per-class statistics of one layer (see the module docstring); the class rows may have spare
    capacity."""

    count: torch.Tensor
    nonfinite: torch.Tensor
    sum: torch.Tensor
    sumsq: torch.Tensor
    infl_count: torch.Tensor
    infl_ddp: torch.Tensor
    infl_weight: torch.Tensor
    top_score: torch.Tensor
    top_index: torch.Tensor
    bottom_score: torch.Tensor
    bottom_index: torch.Tensor
    n_classes: int = 0

    @classmethod
    def empty(
        cls, rank: int, top_n: int, n_classes: int = 0, device: torch.device | str = "cpu"
    ) -> LayerStats:
        f64: dict[str, Any] = {"dtype": torch.float64, "device": device}
        i64: dict[str, Any] = {"dtype": torch.int64, "device": device}
        cap = max(n_classes, 1)
        return cls(
            count=torch.zeros(cap, **i64),
            nonfinite=torch.zeros(cap, rank, **i64),
            sum=torch.zeros(cap, rank, **f64),
            sumsq=torch.zeros(cap, rank, **f64),
            infl_count=torch.zeros(cap, rank, **i64),
            infl_ddp=torch.zeros(cap, rank, **f64),
            infl_weight=torch.zeros(cap, rank, **f64),
            top_score=torch.full((top_n, rank), float("-inf"), **f64),
            top_index=torch.full((top_n, rank), EMPTY_INDEX, **i64),
            bottom_score=torch.full((top_n, rank), float("inf"), **f64),
            bottom_index=torch.full((top_n, rank), EMPTY_INDEX, **i64),
            n_classes=n_classes,
        )

    @property
    def rank(self) -> int:
        return int(self.sum.shape[1])

    @property
    def top_n(self) -> int:
        return int(self.top_score.shape[0])

    def grow(self, n_classes: int) -> None:
        """Make room for classes 0..n_classes-1 (capacity doubles, so growing one class at a time stays
        cheap)."""
        if n_classes <= self.n_classes:
            return
        cap = self.count.shape[0]
        if n_classes > cap:
            new_cap = max(n_classes, 2 * cap)
            for name in CLASS_FIELDS:
                old = getattr(self, name)
                new = old.new_zeros((new_cap, *old.shape[1:]))
                new[:cap] = old
                setattr(self, name, new)
        self.n_classes = n_classes

    def update(
        self, signals: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor, threshold: float
    ) -> None:
        """Add a batch: signals (B, R), labels (B,) int64 in 0..n_classes-1, dataset indices (B,) int64.

        Non-finite signals are counted in `nonfinite` and left out of the sums, the influence rule (as zeros)
        and the rankings.
        """
        dev = self.sum.device
        s = signals.detach().to(dev)
        lab, idx = labels.to(dev), indices.to(dev)
        finite = torch.isfinite(s)
        clean = torch.where(finite, s, torch.zeros((), dtype=s.dtype, device=dev))
        c64 = clean.to(torch.float64)
        _class_add(self.count, lab, torch.ones_like(lab))
        if not bool(finite.all()):
            _class_add(self.nonfinite, lab, (~finite).to(torch.int64))
        _class_add(self.sum, lab, c64)
        _class_add(self.sumsq, lab, c64 * c64)
        mask, ddp_w, w = influential(clean, threshold)  # cumulative shares in float64
        _class_add(self.infl_count, lab, mask.to(torch.int64))
        _class_add(self.infl_ddp, lab, ddp_w)
        _class_add(self.infl_weight, lab, w)
        self._rank(s.to(torch.float64), finite, idx)

    def _rank(self, s: torch.Tensor, finite: torch.Tensor, idx: torch.Tensor) -> None:
        n = self.top_n
        if n == 0:
            return
        neg_inf = torch.tensor(float("-inf"), dtype=torch.float64, device=s.device)
        self.top_score, self.top_index = _keep_best(
            self.top_score, self.top_index, torch.where(finite, s, neg_inf), idx
        )
        neg, self.bottom_index = _keep_best(
            -self.bottom_score, self.bottom_index, torch.where(finite, -s, neg_inf), idx
        )
        self.bottom_score = -neg

    # -- whole-state operations ----------------------------------------------------------------------
    def compact(self, copy: bool = True) -> LayerStats:
        """Without spare class capacity, on the CPU: a copy, or (copy=False) views where no copy is needed."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in CLASS_FIELDS:
            out[name] = out[name][: self.n_classes]
        for name in CLASS_FIELDS + RANK_FIELDS:
            t = out[name].detach().to("cpu")
            out[name] = (
                t.clone() if copy and t.data_ptr() == getattr(self, name).data_ptr() else t.contiguous()
            )
        return LayerStats(**out)

    def permute_classes(self, order: list[int]) -> None:
        """Reorder the class rows: new class j is old class order[j]."""
        perm = torch.as_tensor(order, dtype=torch.int64, device=self.sum.device)
        for name in CLASS_FIELDS:
            t = getattr(self, name)
            head = t[perm]
            setattr(self, name, torch.cat([head, t[len(order) :]]))

    def merged(self, other: LayerStats, top_n: int | None = None) -> LayerStats:
        """The statistics of the union of both (disjoint) image sets: counts and rankings exact, sums in
        float64."""
        a, b = self.compact(copy=False), other.compact(copy=False)
        c = max(a.n_classes, b.n_classes)
        a.grow(c)
        b.grow(c)
        a, b = a.compact(copy=False), b.compact(copy=False)
        out = {name: getattr(a, name) + getattr(b, name) for name in CLASS_FIELDS}
        n = min(a.top_n, b.top_n) if top_n is None else top_n
        out["top_score"], out["top_index"] = select_top(
            torch.cat([a.top_score, b.top_score]), torch.cat([a.top_index, b.top_index]), n
        )
        neg, out["bottom_index"] = select_top(
            torch.cat([-a.bottom_score, -b.bottom_score]), torch.cat([a.bottom_index, b.bottom_index]), n
        )
        out["bottom_score"] = -neg
        return LayerStats(**out, n_classes=c)
