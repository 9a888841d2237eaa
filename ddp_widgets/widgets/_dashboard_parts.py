"""The parts of the NeuronDashboard that need no view: overlays, charts, input checks, merged ablations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np
import torch

from .._labels import fmt
from ..core.errors import ViewArgumentError
from ._axes import nice_ticks
from ._base import note_html
from ._images import _DIV_STOPS, diverging, pad_to

__all__ = ["blend_overlay", "merge_ablations"]

BAR_COLOR, SEL_COLOR = "#1f77b4", "#d62728"
EMPTY = np.zeros((0, 1, 1, 3), np.uint8)


def resize_nearest(m: np.ndarray, h: int, w: int) -> np.ndarray:
    rows = (np.arange(h) * m.shape[0]) // h
    cols = (np.arange(w) * m.shape[1]) // w
    return m[rows][:, cols]


def blend_overlay(image: np.ndarray, signal_map: np.ndarray, vmax: float, opacity: float) -> np.ndarray:
    """An RGB uint8 image with a signal map laid over it on the blue < 0 < red scale of ±vmax.

    The colour's weight at a pixel is opacity · sqrt(min(1, |map| / vmax)): where the signal is ~0 the image
    shows through unchanged, where it reaches ±vmax the colour covers it by `opacity` (the square root keeps
    moderate signals visible). The map is resized to the image (nearest) when their sizes differ.
    """
    m = np.asarray(signal_map, np.float64)
    if m.shape != image.shape[:2]:
        m = resize_nearest(m, image.shape[0], image.shape[1])
    colour = diverging(m, vmax).astype(np.float64)
    strength = np.sqrt(np.clip(np.abs(m) / vmax, 0.0, 1.0)) if vmax > 0 else np.zeros_like(m)
    weight = float(np.clip(opacity, 0.0, 1.0)) * strength
    out = image.astype(np.float64) * (1 - weight[..., None]) + colour * weight[..., None]
    return np.round(out).astype(np.uint8)


def stack(tiles: Sequence[np.ndarray]) -> np.ndarray:
    if not tiles:
        return EMPTY
    h, w = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    return np.stack([pad_to(t, h, w) for t in tiles])


def colour_bar_html(vmax: float, what: str) -> str:
    stops = ", ".join(f"rgb({r:.0f},{g:.0f},{b:.0f})" for r, g, b in _DIV_STOPS)
    bar = (
        f'<span style="display:inline-block; width:120px; height:10px; vertical-align:middle; '
        f'background:linear-gradient(to right, {stops}); border:1px solid #ccc"></span>'
    )
    return note_html(f"{what}: −{fmt(vmax)} {bar} +{fmt(vmax)} (one scale for both poles)")


def inputs_and_labels(data: Any, labels: Any) -> tuple[torch.Tensor | None, np.ndarray | None]:
    """The model inputs as an indexable tensor (a tensor, an array or a TensorDataset's), and their labels."""
    x, y = data, labels
    if not isinstance(data, (torch.Tensor, np.ndarray)):
        tensors = getattr(getattr(data, "dataset", data), "tensors", None)  # DataLoader / TensorDataset
        x = tensors[0] if tensors else None
        if y is None and tensors and len(tensors) > 1:
            y = tensors[1]
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if isinstance(x, torch.Tensor) and not x.is_floating_point():
        x = x.float()
    if y is not None:
        y = np.asarray(y.detach().cpu() if hasattr(y, "detach") else y)
    return (x if isinstance(x, torch.Tensor) else None), y


def class_indices(
    labels: np.ndarray | None, class_names: Sequence[str], n_inputs: int | None
) -> np.ndarray | None:
    """Labels as class indices into `class_names` (names are looked up), one per input, or a clear error."""
    if labels is None:
        return None
    labels = np.asarray(labels).reshape(-1)
    if n_inputs is not None and labels.size != n_inputs:
        raise ViewArgumentError(
            f"labels has {labels.size} entries for {n_inputs} inputs: give one class per input"
        )
    if labels.dtype.kind in "USO":
        lookup = {str(c): i for i, c in enumerate(class_names)}
        unknown = sorted({str(v) for v in labels} - set(lookup))
        if unknown:
            raise ViewArgumentError(
                f"labels {unknown[:5]} are not among the profile's classes {list(class_names)[:10]}"
            )
        return np.array([lookup[str(v)] for v in labels], np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise ViewArgumentError(
            f"labels must be class indices 0..{len(class_names) - 1} (the profile's classes), "
            f"got {labels.min()}..{labels.max()}"
        )
    return labels.astype(np.int64)


def merge_ablations(parts: Sequence[Any]) -> Any:
    """One `neurons.ablate` table from tables of disjoint parts of the data.

    Means are weighted by the class counts.
    """
    first = parts[0]
    counts = np.stack([p["n_images"].to_numpy(np.float64) for p in parts])  # (parts, classes)
    total = counts.sum(0)
    df = first[["class"]].copy()
    df["n_images"] = total.astype(np.int64)
    for col in ("accuracy_before", "accuracy_after", "true_logit_before", "true_logit_after"):
        values = np.stack(
            [np.nan_to_num(p[col].to_numpy(np.float64)) for p in parts]
        )  # a class absent: weight 0
        with np.errstate(invalid="ignore", divide="ignore"):
            df[col] = np.where(total > 0, (values * counts).sum(0) / np.maximum(total, 1), np.nan)
    df["delta_accuracy"] = df["accuracy_after"] - df["accuracy_before"]
    df["delta_true_logit"] = df["true_logit_after"] - df["true_logit_before"]
    df = df[list(first.columns)]
    sizes = counts.sum(1)
    df.attrs.update({key: first.attrs[key] for key in ("layer", "neurons", "keep_top") if key in first.attrs})
    for key in ("accuracy_before", "accuracy_after"):
        df.attrs[key] = float(
            sum(p.attrs[key] * s for p, s in zip(parts, sizes, strict=True)) / max(sizes.sum(), 1)
        )
    return df


def check_matches_profile(profiler: Any, profile: Any, inputs: torch.Tensor, n: int = 4) -> None:
    """The profile's top signals of its first layer's top neuron, recomputed on `inputs`: they must agree.

    Catches display images passed as data (unnormalised, another order): the maps and the ablation would be
    computed on the wrong inputs. Tolerance: rtol 1e-3 and atol 1e-4·max|signal| (other batching, float32).
    """
    layer = next((name for name in profile.layers if name in profiler.layers), None)
    if layer is None:
        return
    idx, scores = profile.top_images(layer, 0, n)
    if not idx.size or int(idx.max()) >= inputs.shape[0]:
        raise ViewArgumentError(
            f"data has {inputs.shape[0]} inputs but the profile ranks image {int(idx.max(initial=0))}: "
            "pass the inputs the profile was made of, in the same order"
        )
    got = profiler.signals(inputs[torch.as_tensor(idx)], profile.meta.get("aggregation", "mean"), [layer])[
        layer
    ]
    got = got[:, 0].detach().double().cpu().numpy()
    if not np.allclose(got, scores, rtol=1e-3, atol=1e-4 * float(np.max(np.abs(scores), initial=0.0))):
        raise ViewArgumentError(
            f"data does not match the profile: the top signals of {layer}:0 recomputed on it are "
            f"{np.round(got, 4)}, the profile has {np.round(scores, 4)}. Pass the model inputs the profile "
            "was made of (normalised, in the same order) as data=..., and pictures to show as images=..."
        )


def bar_chart(names: list[str], title: str, y_label: str, tip: str) -> tuple[bq.Figure, bq.Bars]:
    xs, ys = bq.OrdinalScale(domain=names), bq.LinearScale()
    bars = bq.Bars(
        x=names,
        y=np.zeros(len(names)),
        scales={"x": xs, "y": ys},
        colors=[BAR_COLOR],
        interactions={"click": "select"},
        selected_style={"fill": SEL_COLOR},
        tooltip=bq.Tooltip(fields=["x", "y"], labels=["class", tip], formats=["", ".3g"]),
    )
    fig = bq.Figure(
        marks=[bars],
        title=title,
        axes=[
            bq.Axis(scale=xs, tick_rotate=-35, tick_style={"font-size": "10px", "text-anchor": "end"}),
            bq.Axis(scale=ys, side="left", tick_format=".2g", label=y_label, label_offset="42px"),
        ],
        fig_margin={"top": 30, "bottom": 70, "left": 56, "right": 10},
        title_style={"font-size": "13px"},
        layout=widgets.Layout(width="100%", height="220px"),
        min_aspect_ratio=0.1,
        max_aspect_ratio=10,
        display_toolbar=False,
    )
    return fig, bars


def set_bars(fig: bq.Figure, bars: bq.Bars, values: np.ndarray) -> None:
    values = np.nan_to_num(np.asarray(values, np.float64))
    bars.y = values
    lo, hi = min(0.0, float(values.min(initial=0.0))), max(0.0, float(values.max(initial=0.0)))
    pad = 0.08 * (hi - lo or 1.0)
    ys = bars.scales["y"]
    ys.min, ys.max = lo - (pad if lo < 0 else 0), hi + (pad if hi > 0 else 0)
    fig.axes[1].tick_values = nice_ticks(ys.min, ys.max, 5)


def bars_figure(names: list[str], values: np.ndarray, title: str, y_label: str) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.4, 2.5), layout="constrained")
    ax = fig.subplots()
    ax.bar(np.arange(len(names)), np.nan_to_num(values), color=BAR_COLOR)
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xticks(np.arange(len(names)), names, rotation=-35, ha="left", fontsize=7)
    ax.set_title(title, fontsize=8)
    ax.set_ylabel(y_label, fontsize=8)
    return fig


def model_inputs(analysis: Any, x: Any) -> torch.Tensor | None:
    """`x` as model inputs when it is a float batch the model takes (its first layer's rank and channels)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        return None
    first = [info.input_shape for info in analysis.layers if info.order == 0 and info.input_shape is not None]
    if not first:
        return None
    expected = first[0]
    fits = x.dim() == len(expected) and tuple(x.shape[1:2]) == tuple(expected[1:2])
    return x if fits else None


def default_model_inputs(analysis: Any, images: Any) -> tuple[torch.Tensor | None, dict[str, Any]]:
    """The embedded default model's inputs from its raw uint8 pictures (zoo.normalize), with its MEAN/STD."""
    from ..zoo import MEAN, STD, MiniVGG, normalize

    if (
        not isinstance(analysis.model, MiniVGG)
        or not isinstance(images, np.ndarray)
        or images.dtype != np.uint8
    ):
        return None, {}
    try:
        return normalize(images), {"mean": MEAN, "std": STD}
    except ValueError:
        return None, {}
