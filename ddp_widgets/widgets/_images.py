"""Small image helpers for the views: colour maps and tiling of singular filters and dataset images.

Filters are rendered to uint8 RGB arrays here (one colour scale per filter, white gaps between
channel patterns); the ImageGrid widget only displays pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._labels import neuron_tile_label

__all__ = [
    "diverging",
    "filter_description",
    "filter_tiles",
    "grayscale",
    "linear_input_shape",
    "pad_to",
    "render_filter",
    "render_images",
    "upscale",
]

# a blue - white - red diverging scale (negative - 0 - positive), colour-blind safe end points
_DIV_STOPS = np.array(
    [
        [33, 102, 172],
        [103, 169, 207],
        [209, 229, 240],
        [247, 247, 247],
        [253, 219, 199],
        [239, 138, 98],
        [178, 24, 43],
    ],
    dtype=np.float64,
)


def diverging(x: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """Map values to RGB uint8 on a blue-white-red scale symmetric around 0 (|x| = vmax at the ends)."""
    x = np.asarray(x, np.float64)
    vmax = float(np.max(np.abs(x))) if vmax is None else float(vmax)
    t = np.clip(0.5 + 0.5 * x / vmax, 0.0, 1.0) if vmax > 0 else np.full_like(x, 0.5)
    pos = t * (len(_DIV_STOPS) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(_DIV_STOPS) - 2)
    frac = (pos - lo)[..., None]
    rgb = _DIV_STOPS[lo] * (1 - frac) + _DIV_STOPS[lo + 1] * frac
    return np.round(rgb).astype(np.uint8)


def grayscale(x: np.ndarray) -> np.ndarray:
    """Min-max normalise to uint8 grey (constant input -> mid grey)."""
    x = np.asarray(x, np.float64)
    lo, hi = float(np.min(x)), float(np.max(x))
    if hi <= lo:
        return np.full(x.shape, 128, np.uint8)
    return np.round(255 * (x - lo) / (hi - lo)).astype(np.uint8)


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement (keeps filter pixels crisp)."""
    factor = max(1, int(factor))
    return np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)


def pad_to(img: np.ndarray, h: int, w: int, value: int = 255) -> np.ndarray:
    """Centre an (h0, w0[, 3]) image on an (h, w[, 3]) canvas."""
    out = np.full((h, w, *img.shape[2:]), value, np.uint8)
    top, left = (h - img.shape[0]) // 2, (w - img.shape[1]) // 2
    out[top : top + img.shape[0], left : left + img.shape[1]] = img
    return out


def _fit(img: np.ndarray, size: int) -> np.ndarray:
    return upscale(img, max(1, size // max(img.shape[0], img.shape[1])))


def _near_square(v: np.ndarray) -> np.ndarray:
    n = v.size
    w = math.ceil(math.sqrt(n))
    h = math.ceil(n / w)
    out = np.zeros(h * w)
    out[:n] = v
    return out.reshape(h, w)


def render_filter(
    f: np.ndarray,
    *,
    first_layer: bool,
    channels: int = 4,
    size: int = 64,
    spatial: Sequence[int] | None = None,
) -> tuple[np.ndarray, str]:
    """One singular filter as an RGB uint8 image and a caption.

    f: (c, k...) for a conv filter or (n,) for a Linear one. First layers with c = 1 or 3 are shown as
    grey/RGB images of the filter itself; deeper layers as the k×k patterns of the `channels` input
    channels with the largest norm, side by side, on a diverging scale (blue < 0 < red). `spatial`:
    (c, h, w) to read a Linear filter as channel maps (a flattened conv output).
    """
    f = np.asarray(f, np.float64)
    if f.ndim == 1 and spatial is not None and int(np.prod(spatial)) == f.size and len(spatial) == 3:
        f = f.reshape(tuple(spatial))
    if f.ndim == 1 or (f.ndim >= 2 and int(np.prod(f.shape[1:])) == 1):  # Linear or 1×1 conv: a vector
        v = f.ravel()
        return _fit(diverging(_near_square(v), float(np.max(np.abs(v))) or 1.0), size), f"{v.size}-vector"
    c = f.shape[0]
    maps = f.reshape(c, -1, f.shape[-1]) if f.ndim != 3 else f  # conv1d/3d: fold leading kernel dims
    if first_layer and c in (1, 3):
        img = grayscale(maps[0]) if c == 1 else grayscale(np.moveaxis(maps, 0, -1))  # one scale for R, G, B
        if img.ndim == 2:
            img = np.stack([img] * 3, -1)
        return _fit(img, size), ("grey" if c == 1 else "RGB")
    norms = np.sqrt((maps**2).reshape(c, -1).sum(1))
    top = np.argsort(-norms, kind="stable")[: min(channels, c)]
    vmax = float(np.max(np.abs(maps[top]))) or 1.0
    kh, kw = maps.shape[1:]
    per_row = 2 if len(top) == 4 else len(top)  # 4 patterns as 2×2, fewer in one row
    n_rows = math.ceil(len(top) / per_row)
    zoom = max(1, (size // per_row) // max(kh, kw))
    gap = max(1, zoom // 4)
    ph, pw = kh * zoom, kw * zoom
    canvas = np.full((n_rows * ph + (n_rows - 1) * gap, per_row * pw + (per_row - 1) * gap, 3), 255, np.uint8)
    for j, ch in enumerate(top):
        r, q = divmod(j, per_row)
        canvas[r * (ph + gap) : r * (ph + gap) + ph, q * (pw + gap) : q * (pw + gap) + pw] = upscale(
            diverging(maps[ch], vmax), zoom
        )
    return canvas, "in ch " + ",".join(str(int(t)) for t in top)


def shrink(img: np.ndarray, max_side: int) -> np.ndarray:
    """Average f×f blocks so that the longer side is at most max_side (keeps small images as they are)."""
    f = math.ceil(max(img.shape[0], img.shape[1]) / max_side)
    if f <= 1:
        return img
    h, w = (img.shape[0] // f) * f, (img.shape[1] // f) * f
    blocks = img[:h, :w].reshape(h // f, f, w // f, f, *img.shape[2:])
    if img.dtype == np.uint8:
        return (blocks.sum(axis=(1, 3), dtype=np.uint32) // (f * f)).astype(np.uint8)
    return blocks.mean(axis=(1, 3))


def render_images(
    images: Any, indices: Sequence[int], size: int = 56, max_side: int = 96
) -> list[np.ndarray]:
    """Dataset images (N, H, W) uint8/float or (N, C, H, W) as RGB uint8 tiles, enlarged to ~size px
    (size=1: native size) and shrunk to at most max_side px (what a tile shows; less to send)."""
    out = []
    arr = images
    for i in indices:
        x = np.asarray(arr[int(i)].detach().cpu() if hasattr(arr[int(i)], "detach") else arr[int(i)])
        if x.ndim == 3 and x.shape[0] in (1, 3) and x.shape[-1] not in (1, 3):
            x = np.moveaxis(x, 0, -1)
        if x.ndim == 3 and x.shape[-1] == 1:
            x = x[..., 0]
        x = shrink(x, max_side)
        if x.dtype != np.uint8:
            x = grayscale(x)  # one scale for all channels: colours stay as they are
        if x.ndim == 2:
            x = np.stack([x] * 3, -1)
        out.append(_fit(x, size))
    return out


def linear_input_shape(analysis: Any, name: str) -> tuple[int, ...] | None:
    """For a Linear layer reading a flattened conv output: that output's (c, h, w), when it can tell.

    The nearest conv before it gives c; pooling in between may change h and w, so a square h = w with
    c·h·w = inputs is assumed then (the usual flatten of N×C×H×W).
    """
    info = analysis.info(name)
    if info.kind != "Linear" or info.order is None:
        return None
    n_in = info.weight_shape[1]
    before = [i for i in analysis.layers if i.order is not None and i.order < info.order and i.output_shape]
    if not before:
        return None
    prev = max(before, key=lambda i: i.order)
    shape = tuple(prev.output_shape[1:])
    if len(shape) != 3:
        return None
    if math.prod(shape) == n_in:
        return shape
    side = math.isqrt(n_in // shape[0]) if n_in % shape[0] == 0 else 0
    return (shape[0], side, side) if side and shape[0] * side * side == n_in else None


def filter_tiles(
    analysis: Any, name: str, n: int = 16, channels: int = 4, size: int = 16
) -> tuple[list[np.ndarray], list[str], list[str], str]:
    """The singular filters of the top n singular values of a layer as RGB tiles of about `size` px
    (small: the image grid enlarges them pixelated, so little travels to the browser).

    Returns (tiles, labels "k·σ…", tooltips, how they are drawn) -- what SingularVectorView shows and
    what `ddp_widgets.figures.singular_filters` draws.
    """
    svd = analysis.svd(name)
    info = analysis.info(name)
    n = min(n, svd.rank)
    filters = svd.singular_filters(n).detach().cpu().numpy()
    first = info.order == 0 or analysis.names.index(name) == 0
    spatial = linear_input_shape(analysis, name)
    tiles, captions = [], []
    for f in filters:
        img, cap = render_filter(f, first_layer=first, channels=channels, spatial=spatial, size=size)
        tiles.append(img)
        captions.append(cap)
    sv = svd.values.detach().cpu().numpy()
    labels = [neuron_tile_label(k, sv[k]) for k in range(n)]
    tips = [f"{name}:{k} · σ = {sv[k]:.4g} · {captions[k]}" for k in range(n)]
    how = filter_description(info.kind, tuple(info.weight_shape), first, channels, spatial)
    return tiles, labels, tips, how


def filter_description(
    kind: str,
    weight_shape: tuple[int, ...],
    first_layer: bool,
    channels: int,
    spatial: Sequence[int] | None = None,
) -> str:
    """What the tiles of `render_filter` show, in words that are true for the layer (and its colour scale)."""
    scale = "blue < 0 < red, one scale per filter"
    if kind == "Linear" or len(weight_shape) < 3:
        n_in = weight_shape[1] if len(weight_shape) > 1 else 0
        if spatial:
            c, h, w = spatial
            return (
                f"weight vectors over {n_in} inputs read as {c}×{h}×{w}: the {h}×{w} maps of the "
                f"{min(channels, c)} strongest channels; {scale}"
            )
        return f"weight vectors over {n_in} inputs, drawn as a square of values; {scale}"
    c, kernel = weight_shape[1], weight_shape[2:]
    if math.prod(kernel) == 1:
        return (
            f"1×1 conv: each filter is a vector over its {c} input channels, drawn as a square of values; "
            f"{scale}"
        )
    if first_layer and c in (1, 3):
        return (
            "grey images, black = lowest, white = highest weight"
            if c == 1
            else "RGB images, one scale for the three channels"
        )
    k = "×".join(map(str, kernel))
    return f"{k} patterns on the {min(channels, c)} strongest of {c} input channels; {scale}"
