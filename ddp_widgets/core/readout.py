"""Weight-space class readout: how much each class logit moves per unit of an SVD neuron's signal.

For a Linear layer with output Y = b + U s (s = Uᵀ(Y − b), the SVD-neuron signals of PAPER §2) whose output
reaches the logits through linear maps only, logits = A Y + c for the product A of the weights on the way,
so ∂logit/∂s_α = A u_α: the readout is the (classes × SVD neurons) matrix A U, read from the weights alone.

"Linear maps only" is checked twice: the leaf modules the forward pass calls after the layer must be
Linear, Flatten, Identity or Dropout (which is the identity in eval mode), and the readout must predict the
logit change of a large perturbation of the layer's output along u_α in both directions (which catches a
functional non-linearity such as ``F.relu`` in a ``forward``). Otherwise `NotLinearToLogitsError` says why.
Only torch is imported.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .decompose import LayerSVD
from .errors import InputShapeError, LayerNotDecomposableError, NotLinearToLogitsError
from .layers import call_model, model_device, preserved_modes

__all__ = ["LINEAR_MODULES", "class_readout", "modules_after"]

#: Leaf modules allowed between the layer and the logits (Dropout counts: the readout is of the eval model).
LINEAR_MODULES: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Flatten,
    nn.Identity,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)


def modules_after(
    model: nn.Module, layer: nn.Module, x: torch.Tensor
) -> tuple[list[tuple[str, nn.Module]], torch.Tensor, torch.Tensor]:
    """Leaf modules called after `layer`'s first call in one eval forward pass of x, in call order.

    Returns (name, module) pairs, the layer's output and the model's output. Hooks are removed afterwards.
    """
    calls: list[tuple[str, nn.Module, torch.Tensor | None]] = []
    handles = []

    def make(name: str) -> Callable:
        def hook(mod, _inputs, y):
            calls.append((name, mod, y.detach().clone() if isinstance(y, torch.Tensor) else None))

        return hook

    try:
        for name, mod in model.named_modules():
            if mod is layer or not any(True for _ in mod.children()):
                handles.append(mod.register_forward_hook(make(name)))
        with preserved_modes(model), torch.no_grad():
            out = call_model(model, x)
    finally:
        for h in handles:
            h.remove()
    first = next((i for i, (_, mod, _) in enumerate(calls) if mod is layer), None)
    if first is None:
        raise LayerNotDecomposableError(
            "the layer was not called by the model's forward pass, so it has no readout"
        )
    y = calls[first][2]
    if not isinstance(out, torch.Tensor) or y is None:
        raise NotLinearToLogitsError(
            "the model must return a logits tensor for a readout; wrap it so that forward returns it"
        )
    return [(n, m) for n, m, _ in calls[first + 1 :]], y, out


def _chain(after: list[tuple[str, nn.Module]], d: int, layer_name: str) -> torch.Tensor:
    """The product A (out × d) of the Linear weights on the way, float64; raises on any other module."""
    bad = [f"'{n}' ({type(m).__name__})" for n, m in after if not isinstance(m, LINEAR_MODULES)]
    if bad:
        raise NotLinearToLogitsError(
            f"layer '{layer_name}' does not reach the logits through linear maps only: {', '.join(bad[:4])} "
            "stand(s) between it and the output. The weight-space readout exists for layers followed only by "
            "Linear, Flatten, Identity or Dropout modules (e.g. the last Linear layer); use ablation instead"
        )
    a: torch.Tensor | None = None
    for n, m in after:
        if isinstance(m, nn.Linear):
            w = m.weight.detach().double()
            if w.shape[1] != (d if a is None else a.shape[0]):
                raise NotLinearToLogitsError(
                    f"'{n}' does not take the previous map's output: the path is not a chain"
                )
            a = w if a is None else w @ a
    return a if a is not None else torch.eye(d, dtype=torch.float64)


def _verify(
    model: nn.Module,
    layer: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    readout: torch.Tensor,
    left: torch.Tensor,
    layer_name: str,
) -> None:
    """The logit change of y ± t·u_α must be ±t times readout[:, α] (for the first and last α)."""
    alphas = sorted({0, left.shape[1] - 1})
    t = 10.0 * (float(y.abs().max()) + 1.0)
    dirs = torch.stack([s * t * left[:, a] for a in alphas for s in (1.0, -1.0)])  # (2k, d)
    xs = torch.cat([x[:1]] * (1 + dirs.shape[0]))

    def hook(_mod, _inputs, out):
        return out + torch.cat([torch.zeros_like(dirs[:1]), dirs]).to(out.dtype)

    handle = layer.register_forward_hook(hook)
    try:
        with preserved_modes(model), torch.no_grad():
            logits = call_model(model, xs).double()
    finally:
        handle.remove()
    delta = logits[1:] - logits[:1]
    expect = torch.stack([s * t * readout[:, a] for a in alphas for s in (1.0, -1.0)])
    scale = float(expect.abs().max()) + float(logits[0].abs().max())
    eps = 1e-9 if logits.dtype == torch.float64 and y.dtype == torch.float64 else 1e-3
    if float((delta - expect.to(delta.device)).abs().max()) > eps * scale:
        raise NotLinearToLogitsError(
            f"the logits do not change linearly with the output of layer '{layer_name}' (a perturbation "
            "along u_α does not move them by the weights' readout): a non-linear step, e.g. F.relu inside a "
            "forward, stands between the layer and the output; use ablation instead"
        )


def class_readout(
    model: nn.Module, layer: nn.Module, svd: LayerSVD, example_input: torch.Tensor, *, name: str = ""
) -> torch.Tensor:
    """(classes, R) float64: ∂logit_c / ∂s_α for every SVD neuron α of a Linear `layer` (α in descending σ).

    example_input: a batch the model accepts (random values are best: the linearity check perturbs the
    layer's output at this input). Raises NotLinearToLogitsError when the path to the logits is not linear.
    """
    label = name or svd.name or type(layer).__name__
    if not isinstance(layer, nn.Linear):
        raise NotLinearToLogitsError(
            "the readout is defined for Linear layers (one signal per neuron, not a map over positions), not "
            f"for {type(layer).__name__} '{label}'; use ablation for convolutional layers"
        )
    x = example_input.to(model_device(model))
    try:
        after, y, out = modules_after(model, layer, x)
    except (NotLinearToLogitsError, LayerNotDecomposableError):
        raise
    except Exception as exc:
        raise InputShapeError(
            f"the model failed on the example input of shape {tuple(x.shape)}: {exc}"
        ) from exc
    if y.dim() != 2 or out.dim() != 2:
        raise NotLinearToLogitsError(
            f"the readout needs a layer output (batch, d) and logits (batch, classes); got {tuple(y.shape)} "
            f"and {tuple(out.shape)}"
        )
    a = _chain(after, y.shape[1], label).to(y.device)
    left = svd.projection().T.to(device=y.device, dtype=torch.float64)  # (d, R): columns u_α
    if a.shape[0] != out.shape[1]:
        raise NotLinearToLogitsError(
            f"the linear maps after '{label}' give {a.shape[0]} outputs, the model {out.shape[1]} logits"
        )
    readout = a @ left
    _verify(model, layer, x, y, readout, left, label)
    return readout.cpu()
