"""Rank-1 ablation and low-rank truncation of a layer's weight, with per-class effects on the logits.

Removing SVD neuron α of a layer replaces its unfolded weight W̄ by W̄ − σ_α u_α v_αᵀ (PAPER §1): the layer
then no longer passes the input direction v_α to the output direction u_α, and nothing else changes. For a
grouped convolution u_α is zero outside its group (``LayerSVD.left_vector``), so the ablation stays within
the group. Keeping only the top-k neurons is the rank-k truncation Σ_{α<k} σ_α u_α v_αᵀ.

The weights are computed in float32 (float64 for float64 weights) from the layer's SVD and cast to the
weight's dtype; the SVD is checked to decompose the current weight (a stale one is refused). The two limits
are exact: ablating no neuron returns the weight itself, ablating every neuron returns zeros.

`swapped_weights` puts new weights into the model for a block and restores the originals bit for bit in
`finally`; `compare_weights` streams batches through the model once and accumulates, per class, the
accuracy and the mean true-class logit of the original model and of any number of weight variants.
Only torch and numpy are imported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .decompose import LayerSVD
from .errors import (
    DataError,
    InputShapeError,
    InvalidArgumentError,
    NeuronIndexError,
    StaleDecompositionError,
)
from .layers import call_model, model_device, preserved_modes

__all__ = [
    "BASELINE",
    "ClassStats",
    "ablated_weight",
    "check_neurons",
    "compare_weights",
    "swapped_weights",
    "truncated_weight",
]

#: Key of the unmodified model in the result of `compare_weights`.
BASELINE = "baseline"


def check_neurons(neurons: Iterable[int], rank: int, layer: str = "the layer") -> list[int]:
    """Validate SVD-neuron indices (0 = largest σ, negative counts from the end); sorted unique,
    non-negative."""
    if isinstance(neurons, (int, np.integer)):
        neurons = [int(neurons)]
    out = set()
    for a in neurons:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise NeuronIndexError(f"SVD-neuron indices must be integers, got {a!r} ({type(a).__name__})")
        if not -rank <= int(a) < rank:
            raise NeuronIndexError(
                f"SVD neuron {int(a)} out of range: {layer} has {rank} SVD neurons (0..{rank - 1})"
            )
        out.add(int(a) % rank)
    return sorted(out)


def _work_dtype(weight: torch.Tensor) -> torch.dtype:
    """float32 for half and float32 weights, float64 for float64 ones (no float64 copy of a big float32
    layer)."""
    return torch.promote_types(weight.dtype, torch.float32)


def _components(
    svd: LayerSVD, neurons: Sequence[int], dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Σ_α σ_α u_α v_αᵀ over `neurons` as the full (rows of all groups, cols) matrix."""
    rows, cols = svd.groups * svd.shape[0], svd.shape[1]
    if not neurons:
        return torch.zeros(rows, cols, dtype=dtype, device=device)
    left = torch.stack([svd.left_vector(a) for a in neurons], 1).to(
        device, dtype
    )  # (rows, n), zero off-group
    right = torch.stack([svd.right_vector(a) for a in neurons], 0).to(device, dtype)  # (n, cols)
    sigma = svd.values[list(neurons)].to(device, dtype)  # (n,)
    return (left * sigma) @ right


def ablated_weight(weight: torch.Tensor, svd: LayerSVD, neurons: Iterable[int]) -> torch.Tensor:
    """The weight with the rank-1 components of `neurons` removed: W̄ − Σ σ_α u_α v_αᵀ, in W's shape and
    dtype.

    `svd` must be the decomposition of `weight` (its shape is checked). When more than half of the neurons
    are removed, the kept components are summed instead (the same matrix up to rounding; exactly zero when
    every neuron is removed).
    """
    _check_pair(weight, svd)
    alphas = check_neurons(neurons, svd.rank, f"layer '{svd.name}'" if svd.name else "the layer")
    if not alphas:
        return weight.detach().clone()
    dtype, device = _work_dtype(weight), weight.device
    if 2 * len(alphas) > svd.rank:
        kept = sorted(set(range(svd.rank)) - set(alphas))
        new = _components(svd, kept, dtype, device)
    else:
        new = weight.detach().reshape(svd.groups * svd.shape[0], -1).to(dtype) - _components(
            svd, alphas, dtype, device
        )
    return new.reshape(weight.shape).to(dtype=weight.dtype, device=weight.device)


def truncated_weight(weight: torch.Tensor, svd: LayerSVD, keep: int) -> torch.Tensor:
    """The rank-`keep` truncation: only the top-`keep` SVD neurons kept (the weight itself when keep ≥
    rank)."""
    if isinstance(keep, bool) or not isinstance(keep, (int, np.integer)) or keep < 0:
        raise NeuronIndexError(f"keep must be a non-negative integer number of SVD neurons, got {keep!r}")
    return ablated_weight(weight, svd, range(min(int(keep), svd.rank), svd.rank))


def _check_pair(weight: torch.Tensor, svd: LayerSVD, tol: float = 1e-3) -> None:
    """The SVD must be of this weight: same shape, and W̄ v_α = σ_α u_α for the largest and smallest α.

    A decomposition cached before the weights changed (fine-tuning, a loaded checkpoint) would otherwise
    remove directions the weight no longer has, which looks plausible and is wrong.
    """
    if tuple(weight.shape) != tuple(svd.weight_shape):
        raise StaleDecompositionError(
            f"the SVD is of a weight of shape {tuple(svd.weight_shape)} but the weight has shape "
            f"{tuple(weight.shape)}: decompose this weight (ddp_widgets.core.decompose(layer))"
        )
    dtype = _work_dtype(weight)
    m = weight.detach().reshape(svd.groups * svd.shape[0], -1).to(dtype)
    alphas = sorted({0, svd.rank - 1})
    v = torch.stack([svd.right_vector(a) for a in alphas], 1).to(m.device, dtype)  # (cols, n)
    u = torch.stack([svd.left_vector(a) for a in alphas], 1).to(m.device, dtype)  # (rows, n), zero off-group
    sigma = svd.values[alphas].to(m.device, dtype)
    rows = svd.shape[0]
    groups = [int(svd.group_of[a]) for a in alphas]
    mv = torch.stack([m[g * rows : (g + 1) * rows] @ v[:, i] for i, g in enumerate(groups)], 1)
    uv = torch.stack([u[g * rows : (g + 1) * rows, i] for i, g in enumerate(groups)], 1)
    residual = float((mv - uv * sigma).abs().max())
    if residual > tol * max(float(svd.values[0]), torch.finfo(torch.float32).tiny):
        raise StaleDecompositionError(
            f"the SVD of {svd.name or 'the layer'} does not decompose its current weight (W̄v − σu is "
            f"{residual:.3g}): the weights changed after it was computed. Build a new SpectralAnalysis / "
            "Profiler of the model"
        )


@contextlib.contextmanager
def swapped_weights(new: Mapping[nn.Parameter, torch.Tensor]) -> Iterator[None]:
    """Within the block each parameter holds its new value; the originals are copied back in `finally`.

    The restoration is bit-identical (a copy of the saved values), whether the block succeeds or raises.
    """
    saved: list[tuple[nn.Parameter, torch.Tensor]] = []
    try:
        with torch.no_grad():
            for param, value in new.items():
                if tuple(value.shape) != tuple(param.shape):
                    raise InvalidArgumentError(
                        f"a replacement weight has shape {tuple(value.shape)}, the parameter "
                        f"{tuple(param.shape)}"
                    )
                saved.append((param, param.detach().clone()))
                param.copy_(value)
        yield
    finally:
        with torch.no_grad():
            for param, original in saved:
                param.copy_(original)


@dataclass
class ClassStats:
    """Streaming per-class counts: images, correct predictions and the summed logit of the true class."""

    n_classes: int
    count: np.ndarray = field(init=False)
    correct: np.ndarray = field(init=False)
    true_logit: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.count = np.zeros(self.n_classes, np.int64)
        self.correct = np.zeros(self.n_classes, np.int64)
        self.true_logit = np.zeros(self.n_classes, np.float64)

    def update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """Add a batch: logits (B, C) on any device, labels (B,) int64 on the CPU."""
        lab = labels.to(logits.device)
        hit = (logits.argmax(1) == lab).cpu().numpy()
        true = logits.gather(1, lab[:, None])[:, 0].double().cpu().numpy()
        y = labels.numpy()
        self.count += np.bincount(y, minlength=self.n_classes)
        self.correct += np.bincount(y, weights=hit, minlength=self.n_classes).astype(np.int64)
        self.true_logit += np.bincount(y, weights=true, minlength=self.n_classes)

    def merge(self, other: ClassStats) -> ClassStats:
        """Counts of two disjoint shards of the data (exact for counts, float64 rounding for the logit
        sums)."""
        if other.n_classes != self.n_classes:
            raise InvalidArgumentError(
                f"cannot merge statistics of {self.n_classes} and {other.n_classes} classes"
            )
        out = ClassStats(self.n_classes)
        out.count, out.correct = self.count + other.count, self.correct + other.correct
        out.true_logit = self.true_logit + other.true_logit
        return out

    @property
    def accuracy(self) -> np.ndarray:
        """(C,) fraction of each class's images predicted correctly (NaN for a class with no images)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.correct / self.count

    @property
    def mean_true_logit(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.true_logit / self.count

    @property
    def overall_accuracy(self) -> float:
        return float(self.correct.sum() / max(int(self.count.sum()), 1))


def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    try:
        out = call_model(model, x)
    except Exception as exc:
        raise InputShapeError(f"the model failed on inputs of shape {tuple(x.shape)}: {exc}") from exc
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise DataError(
            f"the model must return class logits of shape (batch, classes) for ablation, got {shape}: "
            f"wrap it so that its forward returns the logits tensor"
        )
    return out


def compare_weights(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    variants: Mapping[str, Mapping[nn.Parameter, torch.Tensor]],
    n_classes: int | None = None,
    *,
    on_batch: Callable[[], None] | None = None,
) -> dict[str, ClassStats]:
    """One streaming pass: per-class statistics of the model (key `BASELINE`) and of each weight variant.

    batches: (inputs, integer labels on the CPU). Each batch runs once as it is and once per variant, with
    the variant's weights swapped in and restored right after (`swapped_weights`). The model runs in eval
    mode without gradients; every module's mode is restored afterwards. n_classes: the class axis (default:
    the number of logits). Raises DataError when no batch comes.
    """
    if BASELINE in variants:
        raise InvalidArgumentError(f"{BASELINE!r} names the unmodified model: give the variants other names")
    stats: dict[str, ClassStats] = {}
    device = model_device(model)
    with preserved_modes(model), torch.no_grad():
        for x, y in batches:
            x = x.to(device)
            logits = _logits(model, x)
            if not stats:
                c = logits.shape[1] if n_classes is None else n_classes
                stats = {name: ClassStats(c) for name in (BASELINE, *variants)}
            _check_batch_labels(y, logits.shape[1], stats[BASELINE].n_classes)
            stats[BASELINE].update(logits, y)
            for name, new in variants.items():
                with swapped_weights(new):
                    stats[name].update(_logits(model, x), y)
            if on_batch is not None:
                on_batch()
    if not stats:
        raise DataError("the data produced no batch: there is nothing to evaluate")
    return stats


def _check_batch_labels(y: torch.Tensor, n_logits: int, n_classes: int) -> None:
    if y.numel() and int(y.max()) >= min(n_logits, n_classes):
        raise DataError(
            f"label {int(y.max())} is out of range: the model returns {n_logits} logits and there are "
            f"{n_classes} classes; labels must be class indices 0..{min(n_logits, n_classes) - 1}"
        )
