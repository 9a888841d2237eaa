"""torchvision models by name, with pretrained weights where the network allows (Binder) and a clear
fallback to random initialisation where it does not (offline machines, CI)."""

from __future__ import annotations

import os
import socket
import warnings

from torch import nn

from ..core.errors import DDPWidgetsWarning

OFFLINE_ENV = "DDP_WIDGETS_OFFLINE"


class PretrainedUnavailableWarning(DDPWidgetsWarning):
    """Pretrained weights could not be had; the model was built with random weights instead."""


def load_torchvision(name: str, pretrained: bool = True, *, timeout: float = 20.0) -> tuple[nn.Module, bool]:
    """(model, loaded_pretrained) for a torchvision classification model, in eval mode.

    With pretrained=True the default weights are downloaded (torchvision caches them); when that fails —
    no network, a firewall, a timeout — or the environment variable DDP_WIDGETS_OFFLINE is set, the model
    is built with weights=None and a PretrainedUnavailableWarning says so. Nothing raises for a missing
    network; an unknown model name raises UnknownModelError (a ValueError) listing how to find valid names.
    """
    import torchvision

    available = set(torchvision.models.list_models(module=torchvision.models))
    if name not in available:
        from ..core.errors import UnknownModelError

        raise UnknownModelError(
            f"unknown torchvision model {name!r}: see torchvision.models.list_models() "
            f"(e.g. resnet18, vgg16, mobilenet_v3_small)"
        )
    if pretrained and not os.environ.get(OFFLINE_ENV):
        old = socket.getdefaulttimeout()
        socket.setdefaulttimeout(timeout)
        try:
            return torchvision.models.get_model(name, weights="DEFAULT").eval(), True
        except Exception as exc:  # noqa: BLE001 - any download failure means: fall back, and say so
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            socket.setdefaulttimeout(old)
    elif pretrained:
        reason = f"{OFFLINE_ENV} is set"
    if pretrained:
        warnings.warn(
            f"pretrained weights for {name} are not available here ({reason}); using random initial weights "
            f"(weights=None) instead — spectra will look untrained",
            PretrainedUnavailableWarning,
            stacklevel=2,
        )
    return torchvision.models.get_model(name, weights=None).eval(), False
