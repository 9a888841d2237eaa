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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import (
    ArgumentTypeError,
    DDPWidgetsError,
    InputShapeError,
    InvalidArgumentError,
    LayerNotDecomposableError,
    NeuronIndexError,
)
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

    @property
    def neuron(self) -> int:
        """The SVD neuron visualised (the index of its singular value; `alpha` is the same number)."""
        return self.alpha

    def __repr__(self) -> str:
        c, h, w = self.image.shape
        return (
            f"FeatureVisualization(layer={self.layer!r}, neuron={self.alpha}, image={c}×{h}×{w}, "
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
            raise InvalidArgumentError(f"size must be an integer or a pair (H, W), got {size!r}") from None
    if h < 2 or w < 2:
        raise InvalidArgumentError(f"size must be at least 2×2 pixels, got {h}×{w}")
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
        raise InvalidArgumentError(f"{name} needs one value or one per channel ({channels}), got {t.numel()}")
    if not bool(torch.isfinite(t).all()):
        raise InvalidArgumentError(f"{name} must be finite, got {t.tolist()}")
    if name == "std" and bool((t <= 0).any()):
        raise InvalidArgumentError(f"std must be positive, got {t.tolist()}")
    return t.reshape(1, channels, 1, 1)


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True)
class _Run:
    """The validated arguments of one visualisation."""

    alpha: int
    steps: int
    channels: int
    h: int
    w: int
    lr: float
    jitter: int
    transforms: TransformSpec


def _check_arguments(
    alpha: int,
    rank: int,
    layer: str,
    steps: int,
    lr: float,
    channels: int,
    size: int | Sequence[int],
    transforms: TransformSpec | None,
) -> _Run:
    if not _is_int(alpha):
        raise ArgumentTypeError(f"alpha must be an integer SVD-neuron index, got {alpha!r}")
    if not 0 <= alpha < rank:
        raise NeuronIndexError(
            f"SVD neuron {alpha} out of range: layer '{layer}' has {rank} (α = 0 … {rank - 1})"
        )
    if not _is_int(steps) or steps < 1:
        raise InvalidArgumentError(f"steps must be a positive integer, got {steps!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise InvalidArgumentError(f"lr must be a positive number, got {lr!r}")
    if not _is_int(channels) or channels < 1:
        raise InvalidArgumentError(f"channels must be a positive integer, got {channels!r}")
    h, w = _pair(size)
    t = transforms if transforms is not None else TransformSpec()
    jitter = max(2, min(h, w) // 16) if t.jitter is None else int(t.jitter)
    if jitter < 0 or not 0 < t.scale[0] <= t.scale[1] or t.degrees < 0:
        raise InvalidArgumentError(f"invalid transform ranges: {t}")
    return _Run(int(alpha), int(steps), int(channels), h, w, lr, jitter, t)


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


class _FourierImage:
    """The optimised parameters, (C, H, W//2 + 1) rfft2 coefficients; calling it gives the (1, C, H, W)
    image in [0, 1] (1/f-scaled spectrum, colour-decorrelated for 3 channels, then a sigmoid)."""

    def __init__(self, run: _Run, decay: float, init_std: float, gen: torch.Generator, device, dtype):
        c, h, w = run.channels, run.h, run.w
        self.coeffs = (torch.randn(c, h, w // 2 + 1, 2, generator=gen, dtype=dtype) * init_std).to(device)
        self.coeffs.requires_grad_(True)
        self.scale = _frequency_scale(h, w, decay).to(device, dtype)
        self.mix = COLOR_SQRT_COVARIANCE.to(device, dtype) if c == 3 else None
        self.size = (h, w)

    def __call__(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.coeffs) * self.scale
        pixels = torch.fft.irfft2(spectrum, s=self.size, norm="ortho")
        if self.mix is not None:
            pixels = torch.einsum("ck,khw->chw", self.mix, pixels)
        return torch.sigmoid(pixels)[None]


class _Normalise:
    """(x − mean) / std per channel (either may be None), cast to the model's dtype."""

    def __init__(self, mean, std, channels: int, device, work: torch.dtype, model_dtype: torch.dtype):
        mean_t, std_t = _per_channel(mean, channels, "mean"), _per_channel(std, channels, "std")
        self.mean = None if mean_t is None else mean_t.to(device, work)
        self.std = None if std_t is None else std_t.to(device, work)
        self.model_dtype = model_dtype

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        x = img if self.mean is None else img - self.mean
        x = x if self.std is None else x / self.std
        return x.to(self.model_dtype)

    def settings(self) -> dict[str, list[float] | None]:
        return {
            "mean": None if self.mean is None else self.mean.flatten().tolist(),
            "std": None if self.std is None else self.std.flatten().tolist(),
        }


def _raise_stop(_mod: nn.Module, _inputs: object, _output: object) -> None:
    raise _Stop


def _neuron_objective(
    model: nn.Module, layer: str, x: torch.Tensor, out: dict[str, torch.Tensor], first: bool
) -> torch.Tensor:
    """Run the model on `x` up to the visualised layer; the mean of the captured signal (autograd kept)."""
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


def _transformed(img: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """`img` moved by the affine_grid matrix `theta`, reflected at the borders."""
    grid = F.affine_grid(theta, list(img.shape), align_corners=False)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _ascend(
    objective: Callable[[torch.Tensor, bool], torch.Tensor],
    image: _FourierImage,
    normalise: _Normalise,
    run: _Run,
    draws: torch.Tensor,
) -> torch.Tensor:
    """`run.steps` Adam steps on the image parameters; the objective at each step, (steps,) float64."""
    device, work = image.coeffs.device, image.coeffs.dtype
    optimiser = torch.optim.Adam([image.coeffs], lr=run.lr)
    history = torch.empty(run.steps, dtype=torch.float64, device=device)
    for i in range(run.steps):
        theta = _affine(draws[i], run.h, run.w, run.transforms, run.jitter).to(device, work)
        value = objective(normalise(_transformed(image(), theta)), i == 0)
        (grad,) = torch.autograd.grad(-value, [image.coeffs])  # leaves every other .grad untouched
        image.coeffs.grad = grad
        optimiser.step()
        history[i] = value.detach()
    return history


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
    run = _check_arguments(alpha, int(spec.projection.shape[0]), layer, steps, lr, channels, size, transforms)
    device = model_device(model)
    model_dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    work = torch.float64 if model_dtype == torch.float64 else torch.float32
    normalise = _Normalise(mean, std, run.channels, device, work, model_dtype)
    gen = torch.Generator().manual_seed(int(seed))
    image = _FourierImage(run, decay, init_std, gen, device, work)  # draws from `gen` first, then:
    draws = torch.rand(run.steps, 4, generator=gen, dtype=torch.float64)
    one = SignalSpec(spec.projection[run.alpha : run.alpha + 1], spec.bias, spec.linear)  # only row α
    with (
        preserved_modes(model),
        capture_signals({"target": module}, {"target": one}, "mean", detach=False) as out,
    ):
        handle = module.register_forward_hook(
            _raise_stop
        )  # after capture's hook: the signal is recorded first

        def objective(x: torch.Tensor, first: bool) -> torch.Tensor:
            return _neuron_objective(model, layer, x, out, first)

        try:
            history = _ascend(objective, image, normalise, run, draws)
            with torch.no_grad():
                final_img = image()
                final_input = normalise(final_img)
                signal = float(objective(final_input, False))
        finally:
            handle.remove()
            out.clear()
    t = run.transforms
    return FeatureVisualization(
        image=final_img[0].detach().to("cpu", torch.float32),
        input=final_input.detach().cpu(),
        history=history.cpu().numpy(),
        layer=layer,
        alpha=run.alpha,
        signal=signal,
        seed=int(seed),
        steps=run.steps,
        settings={
            "size": (run.h, run.w),
            "lr": lr,
            "jitter": run.jitter,
            "scale": t.scale,
            "degrees": t.degrees,
            "decay": decay,
            **normalise.settings(),
        },
    )
