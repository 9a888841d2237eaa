"""Exceptions raised by ddp_widgets. Every message says what to do next."""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches


class DDPWidgetsError(Exception):
    """Base class of every error ddp_widgets raises on purpose."""


class NotAModuleError(DDPWidgetsError, TypeError):
    """The object handed in is not a torch.nn.Module."""


class NoWeightedLayersError(DDPWidgetsError, ValueError):
    """The model has no Conv or Linear layer to decompose."""


class UnknownLayerError(DDPWidgetsError, KeyError):
    """A layer name that is not one of the model's weighted layers."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class LayerNotDecomposableError(DDPWidgetsError, ValueError):
    """The layer exists but cannot be decomposed (or profiled)."""


class NonFiniteWeightsError(DDPWidgetsError, ValueError):
    """A layer's weights contain NaN or Inf."""


class MetaDeviceError(DDPWidgetsError, ValueError):
    """Parameters live on the meta device and hold no values."""


class InputShapeError(DDPWidgetsError, ValueError):
    """An input tensor does not fit the model."""


class DataError(DDPWidgetsError, ValueError):
    """Data or labels handed to a profiler are unusable."""


def require_module(model: object, what: str = "model") -> None:
    """Raise NotAModuleError unless `model` is an nn.Module, with a hint for common mistakes."""
    from torch import nn

    if isinstance(model, nn.Module):
        return
    hint = "build the network first, e.g. torchvision.models.resnet18(weights=None)"
    if isinstance(model, dict):
        hint = (
            "this looks like a state_dict: build the architecture and call "
            "model.load_state_dict(torch.load(path, weights_only=True))"
        )
    elif isinstance(model, str):
        hint = "pass the model object, not its name (e.g. torchvision.models.get_model(name, weights=None))"
    raise NotAModuleError(f"expected a torch.nn.Module as {what}, got {type(model).__name__}: {hint}")


def unknown_layer(name: object, valid: Iterable[str]) -> UnknownLayerError:
    """Build the error for a bad layer name, suggesting close matches and how to list them all."""
    valid = list(valid)
    close = get_close_matches(str(name), valid, n=3, cutoff=0.5)
    suggestion = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return UnknownLayerError(
        f"no weighted layer named {name!r}.{suggestion} "
        f"List the valid names with ddp_widgets.core.list_layers(model) "
        f"(this model has {len(valid)}: {', '.join(valid[:6])}{', ...' if len(valid) > 6 else ''})."
    )


class NotLinearToLogitsError(DDPWidgetsError, ValueError):
    """A layer's output does not reach the logits through linear maps only (no weight-space readout)."""


class NeuronIndexError(DDPWidgetsError, IndexError):
    """An SVD-neuron index (or a number of kept neurons) that is not an integer in the layer's range."""


class StaleDecompositionError(DDPWidgetsError, ValueError):
    """A cached SVD no longer decomposes the layer's current weight (the weights changed after it)."""


class ViewError(DDPWidgetsError, ValueError):
    """A view (ddp_widgets.widgets) was given an option value it does not know."""


class ViewArgumentError(DDPWidgetsError, TypeError):
    """A view was given an argument of the wrong type."""


class SessionError(DDPWidgetsError, ValueError):
    """A saved exploration (Explorer.save) cannot be read: corrupt, edited, of another version or model."""


class UnknownOptionError(DDPWidgetsError, ValueError):
    """An option value (spectrum view, baseline, normalization, convention, MP method) that is not offered."""


class BaselineModelError(DDPWidgetsError, ValueError):
    """A reference model handed in as a baseline has no matching layer."""


class TorchScriptModelError(DDPWidgetsError, TypeError):
    """A TorchScript module was handed in where the eager nn.Module is needed."""


class LayerNotProfilableError(LayerNotDecomposableError):
    """The layer can be decomposed but its SVD-neuron signals cannot be captured (e.g. it is never called)."""


def unknown_option(what: str, value: object, valid: Iterable[str]) -> UnknownOptionError:
    """Build the error for an option value that is not one of `valid`."""
    return UnknownOptionError(f"unknown {what} {value!r}: use one of {', '.join(str(v) for v in valid)}")


class UnknownModelError(DDPWidgetsError, ValueError):
    """A model name (e.g. a torchvision architecture) that is not available."""


class InvalidArgumentError(DDPWidgetsError, ValueError):
    """A parameter outside its valid range (e.g. batch_size <= 0); the message names the parameter."""


class ProfileFileError(DDPWidgetsError, ValueError):
    """A profile file that cannot be written or read: truncated, corrupt, edited or of another format."""


class ProfileFileNotFoundError(ProfileFileError, FileNotFoundError):
    """No profile file at the given path."""


class ProfileMergeError(DDPWidgetsError, ValueError):
    """Profiles that cannot be merged: overlapping images, other layers, aggregation, classes or weights."""


class DistributedProfileError(DDPWidgetsError, RuntimeError):
    """A distributed profile failed: another rank raised, or the ranks disagree on their setup."""


class ArgumentTypeError(DDPWidgetsError, TypeError):
    """A parameter of the wrong type (e.g. a float where an integer index is needed); the message names it."""


class DDPWidgetsWarning(UserWarning):
    """Base class of every warning ddp_widgets gives (the test suite turns them into errors)."""


class DDPWidgetsDeprecationWarning(DDPWidgetsWarning, DeprecationWarning):
    """A name or argument that still works for now but will go; the message names its replacement."""
