"""Spatial maps of one SVD neuron: where in an image its signal comes from (before aggregation).

The per-position signal of SVD neuron α is u_αᵀ(Y − b) at every output position of the layer (PAPER §2);
its spatial mean is the mean-aggregated signal of the profiles. Maps are recomputed on demand for a handful
of images with the profiles' own hook (`capture_signals(..., full=True)`), never stored for a dataset, and
upsampled to the input's size so that they can be laid over the image. Upsampling resamples the output grid
onto the input grid (output position i ↦ the input region around it); with stride 1 and "same" padding the
grids coincide. Only torch is imported.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import InputShapeError, InvalidArgumentError, LayerNotDecomposableError, NeuronIndexError
from .layers import call_model, model_device, preserved_modes
from .profile import SignalSpec, capture_signals

__all__ = ["UPSAMPLE_MODES", "neuron_maps", "upsample_maps"]

#: "nearest" keeps each output value over its block of pixels (and the spatial mean, for integer factors);
#: "bilinear" (linear/trilinear for 1-D/3-D) gives smooth overlays; None keeps the layer's own resolution.
UPSAMPLE_MODES = ("bilinear", "nearest", None)
_SMOOTH = {1: "linear", 2: "bilinear", 3: "trilinear"}


def upsample_maps(maps: torch.Tensor, size: Sequence[int], mode: str | None = "bilinear") -> torch.Tensor:
    """Resample maps (N, *spatial) to (N, *size); mode as in `UPSAMPLE_MODES`."""
    if mode not in UPSAMPLE_MODES:
        raise InvalidArgumentError(
            f"unknown upsampling {mode!r}: use one of {', '.join(map(repr, UPSAMPLE_MODES))}"
        )
    size = tuple(int(s) for s in size)
    if mode is None or tuple(maps.shape[1:]) == size:
        return maps
    if len(size) != maps.dim() - 1:
        raise InputShapeError(f"maps have {maps.dim() - 1} spatial dims but size {size} has {len(size)}")
    interp = _SMOOTH[len(size)] if mode == "bilinear" else "nearest"
    kwargs = {"align_corners": False} if interp != "nearest" else {}
    return F.interpolate(maps[:, None], size=size, mode=interp, **kwargs)[:, 0]


def neuron_maps(
    model: nn.Module,
    module: nn.Module,
    spec: SignalSpec,
    alpha: int,
    images: torch.Tensor,
    *,
    size: Sequence[int] | None = None,
    upsample: str | None = "bilinear",
) -> torch.Tensor:
    """Per-position signal of SVD neuron α of `module` for each image, (N, *size), float32 on the CPU.

    images: a batch (N, C, *spatial) for the model. size: the output's spatial size (default: the images'
    own, i.e. the input size); with upsample=None the maps keep the layer's resolution and `size` is ignored.
    Runs the model in eval mode without gradients; hooks and modes are restored afterwards.
    """
    if spec.linear:
        raise LayerNotDecomposableError(
            "a Linear layer's signal has no spatial positions, so it has no map: choose a convolutional layer"
        )
    rank = spec.projection.shape[0]
    if isinstance(alpha, bool) or not isinstance(alpha, (int, np.integer)) or not -rank <= int(alpha) < rank:
        raise NeuronIndexError(
            f"SVD neuron {alpha!r} out of range: the layer has {rank} SVD neurons (0..{rank - 1})"
        )
    alpha = int(alpha)
    if not isinstance(images, torch.Tensor) or images.dim() < 3:
        raise InputShapeError("images must be a batch tensor (N, C, *spatial); add a batch axis with x[None]")
    x = images.to(model_device(model))
    with (
        capture_signals({"layer": module}, {"layer": spec}, full=True) as out,
        preserved_modes(model),
        torch.no_grad(),
    ):
        try:
            call_model(model, x)
        except Exception as exc:
            raise InputShapeError(f"the model failed on images of shape {tuple(x.shape)}: {exc}") from exc
    if "layer" not in out:
        raise LayerNotDecomposableError(
            "the layer was not called by the model's forward pass, so it has no map"
        )
    maps = out["layer"][:, alpha].float().cpu()  # (N, *spatial of the layer's output)
    target = tuple(images.shape[2:]) if size is None else tuple(size)
    return upsample_maps(maps, target, upsample)
