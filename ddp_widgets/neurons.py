"""Every SVD neuron, explained: where it fires, what removing it does, what it votes for.

Each function takes a `Profiler`, a `SpectralAnalysis` or a bare model (the "source") and a layer name;
SVD neurons are indexed α = 0, 1, ... in descending σ order, as everywhere in ddp-widgets.

>>> from ddp_widgets import neurons
>>> neurons.maps(profiler, "features.7", 0, data.images[:8])          # (8, 28, 28) per-position signal
>>> neurons.ablate(profiler, "features.7", [0], data.images, data.labels)   # per-class Δaccuracy table
>>> neurons.readout(profiler, "classifier.3")                          # Δlogit per unit of signal
>>> neurons.truncation(profiler, data.images, data.labels)            # accuracy versus kept rank
>>> neurons.hyperedge_ablation(profiler, profile, data.images, data.labels)  # the paper's claim, tested
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from .analysis import SpectralAnalysis
from .core.ablation import (
    BASELINE,
    ClassStats,
    ablated_weight,
    check_neurons,
    compare_weights,
    truncated_weight,
)
from .core.errors import (
    DataError,
    InputShapeError,
    InvalidArgumentError,
    LayerNotDecomposableError,
    NeuronIndexError,
    NotAModuleError,
    unknown_layer,
)
from .core.maps import neuron_maps
from .core.profile import SignalSpec
from .core.readout import class_readout

__all__ = ["ablate", "ablate_each", "hyperedge_ablation", "maps", "readout", "truncation"]


# -- sources -----------------------------------------------------------------------------------------
def _analysis(source: Any) -> SpectralAnalysis:
    """A Profiler's analysis, a SpectralAnalysis itself, or a new one of a model (in the model's
    precision)."""
    if isinstance(source, SpectralAnalysis):
        return source
    analysis = getattr(source, "analysis", None)
    if isinstance(analysis, SpectralAnalysis):
        return analysis
    if isinstance(source, nn.Module):
        dtype = next((p.dtype for p in source.parameters() if p.is_floating_point()), torch.float32)
        return SpectralAnalysis(source, progress=False, dtype=dtype)
    raise NotAModuleError(
        f"expected a Profiler, a SpectralAnalysis or a torch.nn.Module, got {type(source).__name__}: "
        f"e.g. ddp_widgets.Profiler(model)"
    )


def _layer(analysis: SpectralAnalysis, layer: str) -> str:
    if layer not in analysis.names:
        if layer in analysis.layers.names:
            raise LayerNotDecomposableError(
                f"layer '{layer}' cannot be decomposed: {analysis.info(layer).reason}"
            )
        raise unknown_layer(layer, analysis.names)
    return layer


def _signal_spec(analysis: SpectralAnalysis, layer: str) -> SignalSpec:
    module = analysis.module(layer)
    if analysis.info(layer).transposed:
        raise LayerNotDecomposableError(
            f"layer '{layer}' is a transposed convolution: its output is not a map of Uᵀ"
        )
    p = analysis.svd(layer).projection().to(device=module.weight.device, dtype=module.weight.dtype)
    bias = module.bias.detach() if module.bias is not None else None
    return SignalSpec(p, bias, isinstance(module, nn.Linear))


# -- maps --------------------------------------------------------------------------------------------
def maps(
    source: Any,
    layer: str,
    neuron: int,
    images: Any,
    *,
    size: Sequence[int] | None = None,
    upsample: str | None = "bilinear",
) -> torch.Tensor:
    """Per-position signal u_αᵀ(Y − b) of SVD neuron `neuron` of a conv `layer` for each image, (N, H, W).

    images: a batch (N, C, H, W) as the model takes it (one image (C, H, W) is made a batch of one).
    Upsampled to the images' size (or `size`) with "bilinear" (default) or "nearest"; upsample=None keeps
    the layer's own resolution, where the spatial mean equals the profile's mean-aggregated signal.
    Recomputed for the images given (a handful at a time), never stored.
    """
    analysis = _analysis(source)
    name = _layer(analysis, layer)
    x = torch.as_tensor(np.asarray(images)) if isinstance(images, np.ndarray) else images
    if not isinstance(x, torch.Tensor):
        raise InputShapeError(f"images must be a tensor (N, C, H, W), got {type(images).__name__}")
    first = [info.input_shape for info in analysis.layers if info.order == 0 and info.input_shape is not None]
    if first and x.dim() == len(first[0]) - 1:  # one image without its batch axis
        x = x[None]
    x = x if x.is_floating_point() else x.float()
    return neuron_maps(
        analysis.model,
        analysis.module(name),
        _signal_spec(analysis, name),
        _index(neuron),
        x,
        size=size,
        upsample=upsample,
    )


def _index(neuron: Any) -> int:
    if isinstance(neuron, bool) or not isinstance(neuron, (int, np.integer)):
        raise NeuronIndexError(f"an SVD neuron is an integer index (0 = largest σ), got {neuron!r}")
    return int(neuron)


# -- ablation ----------------------------------------------------------------------------------------
_UNLABELLED = (
    "ablation compares predictions with labels, and this data has none: pass labels=... with a tensor of "
    "inputs, or data that yields (inputs, labels)"
)


def _label_indices(labels: Any, class_names: Sequence[str] | None) -> Any:
    """String labels -> indices in `class_names`, which must be the model's logit order."""
    if labels is None or isinstance(labels, torch.Tensor):
        return labels
    arr = np.asarray(labels)
    if arr.dtype.kind not in "USO" or (
        arr.dtype.kind == "O" and not all(isinstance(v, str) for v in arr.flat)
    ):
        return labels
    if class_names is None:
        raise DataError(
            "string labels need class_names=[...] in the model's logit order (index i = logit i) to be "
            "compared with its predictions, e.g. class_names=data.class_names"
        )
    lookup = {str(n): i for i, n in enumerate(class_names)}
    unknown = sorted({str(v) for v in arr.flat} - set(lookup))
    if unknown:
        raise DataError(
            f"labels {', '.join(map(repr, unknown[:5]))} are not among the class names "
            f"{list(class_names)[:10]}"
        )
    return np.array([lookup[str(v)] for v in arr.flat], dtype=np.int64)


def _as_inputs(x: Any) -> torch.Tensor:
    x = torch.from_numpy(x) if isinstance(x, np.ndarray) else x
    if not isinstance(x, torch.Tensor):
        raise DataError(f"expected a tensor of inputs, got {type(x).__name__}")
    return x if x.is_floating_point() else x.float()


def _as_labels(y: Any, n: int, n_classes: int | None) -> torch.Tensor:
    """Integer class indices (n,) int64 on the CPU, or a DataError that says what is wrong."""
    y = y.detach().cpu() if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
    y = y.reshape(-1)
    if y.numel() != n:
        raise DataError(
            f"a batch has {n} inputs but {y.numel()} labels: give one integer class label per input"
        )
    if y.dtype == torch.bool or not (
        y.is_floating_point() or y.dtype in (torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64)
    ):
        raise DataError(f"labels must be integer class indices, got dtype {y.dtype}")
    if y.is_floating_point() and not bool(torch.all(y == y.round())):
        raise DataError(
            "labels must be integer class indices (got non-integer floats); map them to 0..C-1 first"
        )
    y = y.long()
    if y.numel() and int(y.min()) < 0:
        raise DataError("labels must be non-negative class indices 0..C-1")
    if n_classes is not None and y.numel() and int(y.max()) >= n_classes:
        raise DataError(f"label {int(y.max())} is out of range for {n_classes} class names")
    return y


def _split(item: Any) -> tuple[torch.Tensor, Any]:
    if isinstance(item, dict):
        x = next((item[k] for k in ("image", "x", "input") if item.get(k) is not None), None)
        y = next((item[k] for k in ("label", "y", "target") if item.get(k) is not None), None)
        if x is None:
            raise DataError(f"dict batches need an 'image' (or 'x') key, got keys {sorted(item)}")
    elif isinstance(item, (tuple, list)) and len(item) >= 2:
        x, y = item[0], item[1]
    else:
        x, y = item, None
    if y is None:
        raise DataError(_UNLABELLED)
    return _as_inputs(x), y


def _labelled_batches(
    data: Any, labels: Any, batch_size: int
) -> tuple[Iterator[tuple[torch.Tensor, Any]], int | None]:
    """(inputs, labels) batches from a tensor with labels, a DataLoader, a Dataset or an iterable of
    batches."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise DataError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(data, (torch.Tensor, np.ndarray)):
        x = _as_inputs(data)
        if labels is None:
            raise DataError(_UNLABELLED)
        y = labels if isinstance(labels, torch.Tensor) else torch.as_tensor(np.asarray(labels))
        if y.reshape(-1).numel() != x.shape[0] or x.shape[0] == 0:
            raise DataError(
                f"data has {x.shape[0]} inputs and labels {y.numel()}: give one label per input (and some "
                "data)"
            )
        y = y.reshape(-1)
        return ((x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)), -(
            -x.shape[0] // batch_size
        )
    if labels is not None:
        raise DataError(
            "labels=... goes with a tensor of inputs; a DataLoader or Dataset must yield (x, y) itself"
        )
    if (
        isinstance(data, torch.utils.data.Dataset)
        and not isinstance(data, torch.utils.data.DataLoader)
        and hasattr(data, "__len__")
    ):
        data = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    if isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
        raise DataError(
            f"cannot evaluate on a {type(data).__name__}: pass a DataLoader, a Dataset, an iterable of (x, "
            "y) batches, or a tensor of inputs with labels=..."
        )
    try:
        total = len(data)
    except TypeError:
        total = None
    return (_split(item) for item in data), total


def _stream(
    data: Any, labels: Any, batch_size: int, n_classes: int | None, progress: bool, desc: str
) -> tuple[Iterator[tuple[torch.Tensor, torch.Tensor]], Any]:
    stream, total = _labelled_batches(data, labels, batch_size)
    bar = tqdm(total=total, desc=desc, unit="batch", delay=0.5, disable=not progress, leave=False)

    def checked() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in stream:
            yield x, _as_labels(y, x.shape[0], n_classes)

    return checked(), bar


def _evaluate(
    analysis: SpectralAnalysis,
    variants: Mapping[str, Mapping[nn.Parameter, torch.Tensor]],
    data: Any,
    labels: Any,
    batch_size: int,
    class_names: Sequence[str] | None,
    progress: bool,
    desc: str,
) -> tuple[dict[str, ClassStats], list[str]]:
    n = len(class_names) if class_names is not None else None
    stream, bar = _stream(data, _label_indices(labels, class_names), batch_size, n, progress, desc)
    try:
        stats = compare_weights(analysis.model, stream, variants, n, on_batch=lambda: bar.update(1))
    finally:
        bar.close()
    if class_names is None:
        class_names = [str(c) for c in range(stats[BASELINE].n_classes)]
    if len(class_names) != stats[BASELINE].n_classes:
        raise DataError(
            f"{len(class_names)} class names for {stats[BASELINE].n_classes} classes: give one name per class"
        )
    return stats, list(class_names)


def _per_class(before: ClassStats, after: ClassStats, class_names: Sequence[str]) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "class": list(class_names),
            "n_images": before.count,
            "accuracy_before": before.accuracy,
            "accuracy_after": after.accuracy,
            "true_logit_before": before.mean_true_logit,
            "true_logit_after": after.mean_true_logit,
        }
    )
    df["delta_accuracy"] = df["accuracy_after"] - df["accuracy_before"]
    df["delta_true_logit"] = df["true_logit_after"] - df["true_logit_before"]
    cols = [
        "class",
        "n_images",
        "accuracy_before",
        "accuracy_after",
        "delta_accuracy",
        "true_logit_before",
        "true_logit_after",
        "delta_true_logit",
    ]
    return df[cols]


def ablate(
    source: Any,
    layer: str,
    neurons: Sequence[int] | int = (),
    data: Any = None,
    labels: Any = None,
    *,
    keep_top: int | None = None,
    batch_size: int = 64,
    class_names: Sequence[str] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Remove SVD neurons of `layer` (W̄ − Σ σ_α u_α v_αᵀ) and compare the model before and after, per class.

    neurons: the α to remove; or keep_top=k to keep only the top-k (remove α ≥ k). data/labels as for
    `Profiler.profile` (a DataLoader, Dataset, (x, y) batches, or a tensor with labels), streamed in batches.
    Returns one row per class: n_images, accuracy and mean true-class logit before and after, and their
    changes; `df.attrs` holds the layer, the removed neurons and the overall accuracies. The layer's weight
    is restored bit for bit afterwards, also when the model raises.
    """
    analysis = _analysis(source)
    name = _layer(analysis, layer)
    svd = analysis.svd(name)
    if keep_top is not None:
        if np.ndim(neurons) == 0 or len(neurons):
            raise InvalidArgumentError(
                "give either neurons=[...] to remove or keep_top=k to keep the top k, not both"
            )
        if (
            isinstance(keep_top, bool)
            or not isinstance(keep_top, (int, np.integer))
            or not 0 <= keep_top <= svd.rank
        ):
            raise NeuronIndexError(
                f"keep_top must be an integer in 0..{svd.rank} (layer '{name}' has {svd.rank} SVD neurons)"
            )
        removed = list(range(int(keep_top), svd.rank))
    else:
        removed = check_neurons(neurons, svd.rank, f"layer '{name}'")
    if data is None:
        raise DataError(
            "ablate needs data: pass a DataLoader, a Dataset or a tensor of inputs with labels=..."
        )
    weight = analysis.module(name).weight
    variant = {"ablated": {weight: ablated_weight(weight, svd, removed)}}
    stats, names = _evaluate(analysis, variant, data, labels, batch_size, class_names, progress, "ablating")
    df = _per_class(stats[BASELINE], stats["ablated"], names)
    df.attrs.update(
        {
            "layer": name,
            "neurons": removed,
            "keep_top": keep_top,
            "accuracy_before": stats[BASELINE].overall_accuracy,
            "accuracy_after": stats["ablated"].overall_accuracy,
        }
    )
    return df


def _neuron_list(neurons: Mapping[str, Sequence[int]] | Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    if isinstance(neurons, Mapping):
        return [(layer, int(a)) for layer, alphas in neurons.items() for a in alphas]
    return [(str(layer), int(a)) for layer, a in neurons]


def ablate_each(
    source: Any,
    neurons: Mapping[str, Sequence[int]] | Sequence[tuple[str, int]],
    data: Any,
    labels: Any = None,
    *,
    batch_size: int = 64,
    class_names: Sequence[str] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Remove each listed SVD neuron on its own (one streaming pass for all); long table by (layer, neuron,
    class).

    neurons: {layer: [α, ...]} or [(layer, α), ...]. Columns as in `ablate`, after "layer" and "neuron".
    Every variant's weight is held in memory during the pass: list a few neurons at a time for big layers.
    """
    analysis = _analysis(source)
    pairs = _neuron_list(neurons)
    variants: dict[str, dict[nn.Parameter, torch.Tensor]] = {}
    for layer, a in pairs:
        name = _layer(analysis, layer)
        svd, weight = analysis.svd(name), analysis.module(name).weight
        alpha = check_neurons([a], svd.rank, f"layer '{name}'")[0]
        variants[f"{name}:{alpha}"] = {weight: ablated_weight(weight, svd, [alpha])}
    stats, names = _evaluate(analysis, variants, data, labels, batch_size, class_names, progress, "ablating")
    frames = []
    for key in variants:
        layer, alpha = key.rsplit(":", 1)
        df = _per_class(stats[BASELINE], stats[key], names)
        df.insert(0, "neuron", int(alpha))
        df.insert(0, "layer", layer)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


# -- truncation --------------------------------------------------------------------------------------
def _default_ranks(rank: int) -> list[int]:
    ranks = {1, rank}
    k = 2
    while k < rank:
        ranks.add(k)
        k *= 2
    return sorted(ranks)


def truncation(
    source: Any,
    data: Any,
    labels: Any = None,
    *,
    layers: Sequence[str] | None = None,
    ranks: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
    batch_size: int = 64,
    class_names: Sequence[str] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Accuracy when one layer at a time keeps only its top-k SVD neurons (rank-k truncation), for several k.

    layers: default every decomposable layer; ranks: the k to try (one list for all layers, or per layer;
    default 1, 2, 4, ... and the full rank). One streaming pass over the data. Returns one row per (layer, k):
    kept_rank, rank, energy_kept (Σ_{α<k} σ² / Σ σ²), accuracy, baseline_accuracy, delta_accuracy.
    """
    analysis = _analysis(source)
    names = [_layer(analysis, n) for n in (analysis.names if layers is None else layers)]
    variants: dict[str, dict[nn.Parameter, torch.Tensor]] = {}
    rows = []
    for name in names:
        svd, weight = analysis.svd(name), analysis.module(name).weight
        chosen = ranks.get(name) if isinstance(ranks, Mapping) else ranks
        ks = _default_ranks(svd.rank) if chosen is None else sorted({int(k) for k in chosen})
        energy = np.cumsum(svd.values.detach().double().cpu().numpy() ** 2)
        for k in ks:
            if not 0 <= k <= svd.rank:
                raise NeuronIndexError(f"kept rank {k} is out of range for layer '{name}' (0..{svd.rank})")
            key = f"{name}:{k}" if k < svd.rank else BASELINE  # full rank: the weight itself, the baseline
            if k < svd.rank:
                variants[key] = {weight: truncated_weight(weight, svd, k)}
            rows.append(
                {
                    "layer": name,
                    "kept_rank": k,
                    "rank": svd.rank,
                    "energy_kept": float(energy[k - 1] / energy[-1]) if k else 0.0,
                    "_key": key,
                }
            )
    stats, _ = _evaluate(analysis, variants, data, labels, batch_size, class_names, progress, "truncating")
    base = stats[BASELINE].overall_accuracy
    for row in rows:
        row.update({"accuracy": stats[row.pop("_key")].overall_accuracy, "baseline_accuracy": base})
        row["delta_accuracy"] = row["accuracy"] - base
    return pd.DataFrame(rows)


# -- readout -----------------------------------------------------------------------------------------
def readout(
    source: Any,
    layer: str,
    *,
    example_input: torch.Tensor | None = None,
    class_names: Sequence[str] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Change of each class logit per unit of each SVD neuron's signal, read from the weights (rows α, columns
    classes).

    Only for a Linear layer whose output reaches the logits through Linear/Flatten/Identity/Dropout modules
    (checked; NotLinearToLogitsError otherwise). example_input: a batch the model accepts (default: random
    values of the probed input shape), at which the linearity of the path is verified numerically.
    """
    analysis = _analysis(source)
    name = _layer(analysis, layer)
    if example_input is None:
        example_input = _random_input(analysis, seed)
    r = class_readout(analysis.model, analysis.module(name), analysis.svd(name), example_input, name=name)
    cols = list(class_names) if class_names is not None else [str(c) for c in range(r.shape[0])]
    if len(cols) != r.shape[0]:
        raise DataError(f"{len(cols)} class names for {r.shape[0]} logits: give one name per logit")
    df = pd.DataFrame(r.T.numpy(), columns=cols)
    df.index.name = "neuron"
    df.insert(0, "sigma", analysis.svd(name).values.detach().double().cpu().numpy())
    return df


def _random_input(analysis: SpectralAnalysis, seed: int) -> torch.Tensor:
    first = [info for info in analysis.layers if info.order == 0]
    if not first or first[0].input_shape is None:
        raise InputShapeError(
            "the model's input shape is unknown: pass example_input=<a batch the model accepts>"
        )
    dtype = next((p.dtype for p in analysis.model.parameters() if p.is_floating_point()), torch.float32)
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((1, *first[0].input_shape[1:]), generator=gen).to(dtype)


# -- the paper's claim -------------------------------------------------------------------------------
def _hyperedges(
    profile: Any, layer: str, top_k: int | None, threshold: float | None, center: bool
) -> dict[int, list[str]]:
    hg = profile.hypergraph(layer, top_k=top_k, threshold=threshold, center=center)
    return {
        int(hg.edge_info[e]["alpha"]): sorted(m, key=profile.class_names.index)
        for e, m in hg.edges.items()
        if m
    }


def hyperedge_ablation(
    source: Any,
    profile: Any,
    data: Any,
    labels: Any = None,
    *,
    layers: Sequence[str] | None = None,
    n_neurons: int = 3,
    top_k: int | None = 16,
    threshold: float | None = None,
    center: bool = False,
    batch_size: int = 64,
    progress: bool = True,
) -> pd.DataFrame:
    """Do the classes of a neuron's hyperedge lose more on its ablation than the other classes?

    For each layer: its `n_neurons` most influential SVD neurons that are hyperedges of
    `profile.hypergraph(layer, top_k=..., threshold=..., center=...)` (most influential = influential for
    the most images of the profile), each removed on its own (`ablate_each`, one pass). One row per neuron:
    its hyperedge's classes, the mean accuracy loss (−Δaccuracy) and mean true-logit loss of the classes in
    the edge and of the others, and margin = loss in − loss out (positive: the edge's classes lose more;
    NaN when the edge holds every class). p_subsets (p_subsets_logit): the share of all class sets of the
    edge's size whose margin is at least the edge's (an exact permutation test over class sets; 5000 seeded
    random sets when there are more) -- small when the edge's classes stand out, NaN when the edge holds every
    class. `data` must be the profiled images, with the same class axis.
    """
    names = list(profile.layers) if layers is None else [layers] if isinstance(layers, str) else list(layers)
    chosen: list[tuple[str, int]] = []
    edges: dict[tuple[str, int], list[str]] = {}
    for layer in names:
        members = _hyperedges(profile, layer, top_k, threshold, center)
        counts = profile.influence_counts(layer).sum(0)
        ranked = [int(a) for a in np.argsort(-counts, kind="stable") if int(a) in members][:n_neurons]
        chosen += [(layer, a) for a in ranked]
        edges.update({(layer, a): members[a] for a in ranked})
    if not chosen:
        raise DataError("no hyperedge in the chosen layers: lower the threshold or raise top_k")
    effects = ablate_each(
        source,
        chosen,
        data,
        labels,
        batch_size=batch_size,
        class_names=profile.class_names,
        progress=progress,
    )
    rows = []
    for (layer, a), group in effects.groupby(["layer", "neuron"], sort=False):
        inside = group["class"].isin(edges[(layer, a)])
        loss, logit_loss = -group["delta_accuracy"], -group["delta_true_logit"]
        row = {
            "layer": layer,
            "neuron": a,
            "sigma": float(profile.singular_values(layer)[a]),
            "influence_share": float(profile.influence_counts(layer).sum(0)[a]) / max(profile.n_images, 1),
            "hyperedge": ", ".join(edges[(layer, a)]),
            "n_in": int(inside.sum()),
            "n_out": int((~inside).sum()),
            "acc_loss_in": loss[inside].mean(),
            "acc_loss_out": loss[~inside].mean(),
            "logit_loss_in": logit_loss[inside].mean(),
            "logit_loss_out": logit_loss[~inside].mean(),
        }
        row["margin"] = row["acc_loss_in"] - row["acc_loss_out"]
        row["logit_margin"] = row["logit_loss_in"] - row["logit_loss_out"]
        row["p_subsets"] = _subset_p(loss.to_numpy(), inside.to_numpy())
        row["p_subsets_logit"] = _subset_p(logit_loss.to_numpy(), inside.to_numpy())
        rows.append(row)
    return pd.DataFrame(rows)


def _subset_p(loss: np.ndarray, inside: np.ndarray, max_sets: int = 5000) -> float:
    """Share of class sets of the same size as `inside` whose margin (mean loss in − mean loss out) ≥ its
    own."""
    n, k = len(loss), int(inside.sum())
    if k == 0 or k == n or np.isnan(loss).any():
        return float("nan")
    if math.comb(n, k) <= max_sets:
        sets = np.array([np.isin(np.arange(n), c) for c in combinations(range(n), k)])
    else:
        rng = np.random.default_rng(0)
        sets = np.array([np.isin(np.arange(n), rng.choice(n, k, replace=False)) for _ in range(max_sets)])
    margins = (sets * loss).sum(1) / k - (~sets * loss).sum(1) / (n - k)
    observed = loss[inside].mean() - loss[~inside].mean()
    return float(np.mean(margins >= observed - 1e-12))
