"""Feature visualisation of SVD neurons (PAPER §5): the input image that drives one neuron hardest.

The objective is the mean over output positions of one SVD neuron's signal, u_αᵀ(Y − b) (PAPER §2),
captured with the same hook as the profiles (`capture_signals`, here keeping the autograd graph).
The image is optimised through a parameterisation that favours natural-looking results:

- Fourier domain: the parameters are the rfft2 coefficients of each channel, scaled by 1/f (frequency
  in cycles per pixel, floored at one cycle per image), so that low frequencies move fastest;
- colour decorrelation (3-channel inputs only): the channels are mixed by a fixed 3×3 matrix, the square
  root of the RGB covariance of natural images, so the parameters are roughly uncorrelated colour axes;
- a sigmoid maps to the display range [0, 1], then the model's own normalisation (x − mean) / std;
- at every step a random small affine transform (translation by a few pixels, scale, rotation) is applied
  with `affine_grid`/`grid_sample`, so the result does not rely on pixel-exact patterns.

Adam at lr 0.05 ascends the objective. Only torch and numpy are imported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import DDPWidgetsError, InputShapeError, LayerNotDecomposableError
from .layers import LayerList, call_model, model_device, preserved_modes
from .profile import SignalSpec, capture_signals

__all__ = [
    "COLOR_SQRT_COVARIANCE",
    "FeatureVisualization",
    "TransformSpec",
    "image_input_shape",
    "visualize_neuron",
]


def _color_sqrt_covariance() -> torch.Tensor:
    """E·diag(√λ) from the published PCA of ImageNet RGB pixels (Krizhevsky et al. 2012, "lighting" noise),
    scaled so that its largest column has unit norm. Multiplying unit-variance, uncorrelated parameters by it
    gives colours with the covariance of natural images."""
    eigval = torch.tensor([0.2175, 0.0188, 0.0045], dtype=torch.float64)
    eigvec = torch.tensor(
        [[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]],
        dtype=torch.float64,
    )
    m = eigvec * eigval.sqrt()[None, :]
    return m / m.norm(dim=0).max()


#: The fixed 3×3 colour-correlation matrix (rows: R, G, B; columns: decorrelated axes).
COLOR_SQRT_COVARIANCE: torch.Tensor = _color_sqrt_covariance()


@dataclass(frozen=True)
class TransformSpec:
    """Ranges of the random transform drawn at each step.

    jitter: largest translation in pixels (None: max(2, size // 16)); scale: (low, high) zoom factors;
    degrees: largest rotation either way.
    """

    jitter: int | None = None
    scale: tuple[float, float] = (0.95, 1.05)
    degrees: float = 5.0


@dataclass
class FeatureVisualization:
    """The result of `visualize_neuron` (all tensors detached, on the CPU).

    image:   (C, H, W) float tensor in the display range [0, 1]
    input:   (1, C, H, W) the normalised tensor the model sees (no random transform); feed it to the model
             or to Profiler.signals to check the neuron's response
    history: (steps,) the objective at each step (on the randomly transformed image), float64
    signal:  the objective for `input` itself, after the last step
    """

    image: torch.Tensor
    input: torch.Tensor
    history: np.ndarray
    layer: str
    alpha: int
    signal: float = float("nan")
    seed: int = 0
    steps: int = 0
    settings: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        c, h, w = self.image.shape
        return (
            f"FeatureVisualization(layer={self.layer!r}, alpha={self.alpha}, image={c}×{h}×{w}, "
            f"steps={self.steps}, objective {self.history[0]:.4g} → {self.history[-1]:.4g}, "
            f"signal={self.signal:.4g})"
        )


class _Stop(Exception):
    """Raised by a hook once the visualised layer has run: the rest of the forward pass is not needed."""


def image_input_shape(layers: LayerList) -> tuple[int, int, int]:
    """(C, H, W) of the model's image input, read from the probe pass of a layer list.

    The input of the first weighted layer in forward order stands for the model's input.
    """
    first = [info for info in layers if info.order == 0]
    if not first or first[0].input_shape is None:
        raise InputShapeError(
            "the model's input size is unknown (the probe pass did not reach a weighted layer): "
            "pass size=(H, W) and build the analysis with an example_input the model accepts"
        )
    shape = first[0].input_shape
    if len(shape) != 4:
        raise InputShapeError(
            "feature visualisation needs a model that takes images (batch, C, H, W); its first weighted "
            f"layer '{first[0].name}' ({first[0].kind}) sees inputs of shape {tuple(shape)}"
        )
    return int(shape[1]), int(shape[2]), int(shape[3])


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        h = w = int(size)
    else:
        try:
            h, w = (int(v) for v in size)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise ValueError(f"size must be an integer or a pair (H, W), got {size!r}") from None
    if h < 2 or w < 2:
        raise ValueError(f"size must be at least 2×2 pixels, got {h}×{w}")
    return h, w


def _per_channel(
    values: float | Sequence[float] | torch.Tensor | None, channels: int, name: str
) -> torch.Tensor | None:
    if values is None:
        return None
    t = torch.as_tensor(values, dtype=torch.float64).flatten()
    if t.numel() == 1:
        t = t.expand(channels)
    if t.numel() != channels:
        raise ValueError(f"{name} needs one value or one per channel ({channels}), got {t.numel()}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite, got {t.tolist()}")
    if name == "std" and bool((t <= 0).any()):
        raise ValueError(f"std must be positive, got {t.tolist()}")
    return t.reshape(1, channels, 1, 1)


def _frequency_scale(h: int, w: int, decay: float) -> torch.Tensor:
    """(h, w//2 + 1): 1/f^decay over the rfft2 grid, f in cycles per pixel floored at 1 / max(h, w),
    divided by its root mean square (so the pixel scale does not depend on the image size)."""
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.rfftfreq(w, dtype=torch.float64)[None, :]
    f = torch.sqrt(fx**2 + fy**2).clamp_min(1.0 / max(h, w))
    s = f ** (-decay)
    return s / s.pow(2).mean().sqrt()


def _affine(params: torch.Tensor, h: int, w: int, t: TransformSpec, jitter: int) -> torch.Tensor:
    """One (1, 2, 3) affine_grid matrix from four uniform [0, 1) numbers: shift x, shift y, zoom, angle.

    The rotation is done in pixel units (so non-square images are not sheared), then expressed in the
    [-1, 1] coordinates of affine_grid.
    """
    ux, uy, us, ua = (float(v) for v in params)
    dx, dy = (2 * ux - 1) * jitter, (2 * uy - 1) * jitter  # pixels
    zoom = t.scale[0] + (t.scale[1] - t.scale[0]) * us
    angle = math.radians((2 * ua - 1) * t.degrees)
    c, s = math.cos(angle) / zoom, math.sin(angle) / zoom
    return torch.tensor([[[c, -s * h / w, 2 * dx / w], [s * w / h, c, 2 * dy / h]]], dtype=torch.float64)


def visualize_neuron(
    model: nn.Module,
    module: nn.Module,
    spec: SignalSpec,
    alpha: int,
    *,
    layer: str = "",
    channels: int,
    size: int | Sequence[int],
    steps: int = 512,
    seed: int = 0,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
    lr: float = 0.05,
    transforms: TransformSpec | None = None,
    decay: float = 1.0,
    init_std: float = 0.01,
) -> FeatureVisualization:
    """Optimise an input image to maximise the mean signal of SVD neuron `alpha` of `module`.

    model: the network (on any device; it is run in eval mode and its modes are restored afterwards);
    module: the weighted layer inside it; spec: its SignalSpec (projection Uᵀ in descending σ order, bias);
    channels, size: the image input (C, (H, W)); mean, std: the model's input normalisation per channel
    (None: the [0, 1] image is fed as it is); transforms: ranges of the random per-step transform
    (TransformSpec(jitter=0, scale=(1, 1), degrees=0) turns them off); decay: the spectrum's 1/f^decay.
    Gradients flow only to the image parameters: the model's parameters keep their .grad and requires_grad.
    """
    rank = int(spec.projection.shape[0])
    if isinstance(alpha, bool) or not isinstance(alpha, (int, np.integer)):
        raise TypeError(f"alpha must be an integer SVD-neuron index, got {alpha!r}")
    if not 0 <= alpha < rank:
        raise IndexError(f"SVD neuron {alpha} out of range: layer '{layer}' has {rank} (α = 0 … {rank - 1})")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 1:
        raise ValueError(f"channels must be a positive integer, got {channels!r}")
    h, w = _pair(size)
    alpha, steps, channels = int(alpha), int(steps), int(channels)
    t = transforms if transforms is not None else TransformSpec()
    jitter = max(2, min(h, w) // 16) if t.jitter is None else int(t.jitter)
    if jitter < 0 or not 0 < t.scale[0] <= t.scale[1] or t.degrees < 0:
        raise ValueError(f"invalid transform ranges: {t}")

    device = model_device(model)
    model_dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    work = torch.float64 if model_dtype == torch.float64 else torch.float32
    mean_t, std_t = _per_channel(mean, channels, "mean"), _per_channel(std, channels, "std")
    mean_t = None if mean_t is None else mean_t.to(device, work)
    std_t = None if std_t is None else std_t.to(device, work)

    gen = torch.Generator().manual_seed(int(seed))
    coeffs = (torch.randn(channels, h, w // 2 + 1, 2, generator=gen, dtype=work) * init_std).to(device)
    coeffs.requires_grad_(True)
    draws = torch.rand(steps, 4, generator=gen, dtype=torch.float64)
    scale = _frequency_scale(h, w, decay).to(device, work)
    mix = COLOR_SQRT_COVARIANCE.to(device, work) if channels == 3 else None

    def image() -> torch.Tensor:  # (1, C, H, W) in [0, 1]
        pixels = torch.fft.irfft2(torch.view_as_complex(coeffs) * scale, s=(h, w), norm="ortho")
        if mix is not None:
            pixels = torch.einsum("ck,khw->chw", mix, pixels)
        return torch.sigmoid(pixels)[None]

    def normalise(img: torch.Tensor) -> torch.Tensor:
        x = img if mean_t is None else img - mean_t
        x = x if std_t is None else x / std_t
        return x.to(model_dtype)

    one = SignalSpec(spec.projection[alpha : alpha + 1], spec.bias, spec.linear)  # only row α is needed
    optimiser = torch.optim.Adam([coeffs], lr=lr)
    history = torch.empty(steps, dtype=torch.float64, device=device)

    def stop(_mod, _inputs, _output):
        raise _Stop

    def forward(x: torch.Tensor, out: dict[str, torch.Tensor], first: bool) -> torch.Tensor:
        out.clear()
        try:
            call_model(model, x)
        except _Stop:
            pass
        except DDPWidgetsError:
            raise
        except Exception as exc:
            if not first:
                raise
            raise InputShapeError(
                f"the model failed on a {tuple(x.shape)} image: {exc}. Pass size=(H, W) and channels the "
                "model accepts"
            ) from exc
        if "target" not in out:
            raise LayerNotDecomposableError(
                f"layer '{layer}' was not called by the model's forward pass, so it cannot be visualised"
            )
        return out["target"][:, 0].mean()

    with (
        preserved_modes(model),
        capture_signals({"target": module}, {"target": one}, "mean", detach=False) as out,
    ):
        handle = module.register_forward_hook(stop)  # after capture's hook, so the signal is recorded first
        try:
            for i in range(steps):
                theta = _affine(draws[i], h, w, t, jitter).to(device, work)
                img = image()
                grid = F.affine_grid(theta, [1, channels, h, w], align_corners=False)
                moved = F.grid_sample(
                    img, grid, mode="bilinear", padding_mode="reflection", align_corners=False
                )
                objective = forward(normalise(moved), out, first=i == 0)
                (grad,) = torch.autograd.grad(-objective, [coeffs])  # leaves every other .grad untouched
                coeffs.grad = grad
                optimiser.step()
                history[i] = objective.detach()
            with torch.no_grad():
                final_img = image()
                final_input = normalise(final_img)
                signal = float(forward(final_input, out, first=False))
        finally:
            handle.remove()
            out.clear()
    return FeatureVisualization(
        image=final_img[0].detach().to("cpu", torch.float32),
        input=final_input.detach().cpu(),
        history=history.cpu().numpy(),
        layer=layer,
        alpha=alpha,
        signal=signal,
        seed=int(seed),
        steps=steps,
        settings={
            "size": (h, w),
            "lr": lr,
            "jitter": jitter,
            "scale": t.scale,
            "degrees": t.degrees,
            "decay": decay,
            "mean": None if mean is None else mean_t.flatten().tolist(),
            "std": None if std is None else std_t.flatten().tolist(),
        },
    )
