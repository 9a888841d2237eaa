"""Selection: the one shared, view-less state of what the user is looking at.

Every view takes the same `Selection`, observes only the traits it needs, writes to it on user
interaction, and never keeps a private copy of what is selected. It is a plain traitlets object, so it
is readable and writable from Python::

    sel = Selection.for_analysis(analysis)
    sel.layer = "features.7"          # moves every view
    sel.neuron = 3                    # SVD neuron 3 of that layer (0 = largest singular value)

The SVD neuron's index is called ``neuron`` (several: ``neurons``) everywhere in the package and shown
as "SVD neuron k"; α only ever means the power-law exponent. ``singular_index`` / ``singular_indices``
are deprecated aliases kept for one release (they warn and still work).

When a list of valid layers (``valid_layers``), per-layer ranks (``ranks``), class names
(``class_names``) or a number of images (``n_images``) is attached, values are validated against
them and a bad value raises `SelectionError` (a `traitlets.TraitError` and a `ValueError`) with a
message that names the valid choices.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable, Iterator
from difflib import get_close_matches
from typing import Any

from traitlets import Dict, HasTraits, Int, List, TraitError, Unicode, observe, validate

from .core.errors import ArgumentTypeError, DDPWidgetsDeprecationWarning, DDPWidgetsError

__all__ = ["Selection", "SelectionError"]

_SELECTED = ("layer", "neuron", "neurons", "class_label", "class_labels", "image_index")
_DEPRECATED = {"singular_index": "neuron", "singular_indices": "neurons"}  # old name -> new name


class SelectionError(DDPWidgetsError, TraitError, ValueError):
    """A value a Selection cannot take (unknown layer, index out of range, ...)."""


def _renamed(old: str, stacklevel: int = 3) -> str:
    new = _DEPRECATED[old]
    warnings.warn(
        f"Selection.{old} is deprecated and will be removed in the next release: use Selection.{new}",
        DDPWidgetsDeprecationWarning,
        stacklevel=stacklevel,
    )
    return new


def _new_names(values: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments with the deprecated names replaced (with a warning)."""
    out = {}
    for k, v in values.items():
        out[_renamed(k, stacklevel=4) if k in _DEPRECATED else k] = v
    return out


def _names(values: Iterable[Any], n: int = 6) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:n])
    return shown + (f", ... ({len(values)} in all)" if len(values) > n else "")


class Selection(HasTraits):
    """What is selected, shared by all views.

    layer: the selected layer's name (None: nothing selected).
    neuron: the focused SVD neuron of that layer (its singular value's index, 0 = largest σ);
    neurons: several.
    class_label / class_labels: the focused class index and a set of classes.
    image_index: the focused dataset image.
    valid_layers, ranks, class_names, n_images: what values are allowed (empty: not checked).
    """

    layer = Unicode(None, allow_none=True, help="selected layer name")
    neuron = Int(None, allow_none=True, help="focused SVD neuron: index of its singular value (0 = largest)")
    neurons = List(Int(), help="several SVD neurons of the selected layer")
    class_label = Int(None, allow_none=True, help="focused class index")
    class_labels = List(Int(), help="several class indices")
    image_index = Int(None, allow_none=True, help="focused dataset image")

    valid_layers = List(Unicode(), help="names a layer may take (empty: any)")
    ranks = Dict(value_trait=Int(), key_trait=Unicode(), help="number of singular values per layer")
    class_names = List(Unicode(), help="class names; class labels index into it")
    n_images = Int(None, allow_none=True, help="number of dataset images")
    generation = Int(
        0, read_only=True, help="counts completed changes of what is selected (one per select()/batch)"
    )

    def __init__(self, **kwargs: Any) -> None:
        self._depth, self._dirty = 0, False
        # constraints first, so the selected values are validated against them
        constraints = {
            k: kwargs.pop(k) for k in ("valid_layers", "ranks", "class_names", "n_images") if k in kwargs
        }
        super().__init__(**constraints)
        for k, v in _new_names(kwargs).items():
            if k not in _SELECTED:
                raise ArgumentTypeError(
                    f"Selection got an unexpected keyword {k!r}: use one of {', '.join(_SELECTED)}"
                )
            setattr(self, k, v)

    # -- deprecated aliases (one release) ------------------------------------------------------------
    @property
    def singular_index(self) -> int | None:
        """Deprecated: use `neuron`."""
        return getattr(self, _renamed("singular_index"))

    @singular_index.setter
    def singular_index(self, value: int | None) -> None:
        setattr(self, _renamed("singular_index"), value)

    @property
    def singular_indices(self) -> list[int]:
        """Deprecated: use `neurons`."""
        return getattr(self, _renamed("singular_indices"))

    @singular_indices.setter
    def singular_indices(self, value: list[int]) -> None:
        setattr(self, _renamed("singular_indices"), value)

    # -- construction helpers ------------------------------------------------------------------------
    @classmethod
    def for_analysis(cls, analysis: Any, profile: Any = None, **kwargs: Any) -> Selection:
        """A Selection whose valid layers and ranks are those of a SpectralAnalysis (and profile)."""
        sel = cls()
        sel.attach(analysis, profile)
        sel.select(**kwargs)
        return sel

    def attach(self, analysis: Any = None, profile: Any = None) -> Selection:
        """Take the valid layers and ranks from an analysis, and the classes and images from a profile."""
        with self.hold_trait_notifications():
            if analysis is not None:
                self.ranks = {n: int(analysis.info(n).rank_bound) for n in analysis.names}
                self.valid_layers = list(analysis.names)
            if profile is not None:
                self.class_names = [str(c) for c in profile.class_names]
                n = getattr(profile, "n_images", None)
                self.n_images = int(n) if n is not None else None
        return self

    def select(self, **values: Any) -> Selection:
        """Set several traits at once, e.g. ``sel.select(layer="fc", neuron=0)``.

        The layer is set first so that an index is checked against the new layer's rank. All or nothing:
        when any value is invalid, nothing changes (and no observer is notified) before the error.
        """
        values = _new_names(values)
        unknown = set(values) - set(_SELECTED)
        if unknown:
            raise ArgumentTypeError(
                f"Selection.select got unexpected keywords {sorted(unknown)}: use {', '.join(_SELECTED)}"
            )
        # validates together at the end; rolls back on TraitError; one generation for all of it
        with self.batch(), self.hold_trait_notifications():
            for k in _SELECTED:
                if k in values:
                    setattr(self, k, values[k])
            # an unchanged value raises no change event: check it against the new layer too
            for k in _SELECTED:
                if k in values:
                    getattr(type(self), k)._cross_validate(self, getattr(self, k))
        return self

    @contextlib.contextmanager
    def batch(self) -> Iterator[Selection]:
        """Group changes: `generation` advances once, after every observer of every change has run.

        Views mark in the page which generation they have drawn (``data-ddp-drawn``), so a browser can
        wait until every view shows the result of one click.
        """
        self._depth += 1
        try:
            yield self
        finally:
            self._depth -= 1
            if self._depth == 0 and self._dirty:
                self._dirty = False
                self.set_trait("generation", self.generation + 1)

    def notify_change(self, change: Any) -> None:
        if change.name not in _SELECTED:
            super().notify_change(change)
            return
        with self.batch():  # a change that its observers follow up with others is still one generation
            self._dirty = True
            super().notify_change(change)

    def clear(self) -> None:
        """Select nothing."""
        self.select(layer=None, neuron=None, neurons=[], class_label=None, class_labels=[], image_index=None)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _SELECTED}

    def __repr__(self) -> str:
        parts = [f"{k}={v!r}" for k, v in self.to_dict().items() if v not in (None, [])]
        return f"Selection({', '.join(parts)})"

    # -- validation ----------------------------------------------------------------------------------
    @validate("layer")
    def _valid_layer(self, proposal: Any) -> Any:
        name = proposal["value"]
        if name is None or not self.valid_layers or name in self.valid_layers:
            return name
        close = get_close_matches(str(name), self.valid_layers, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise SelectionError(
            f"The 'layer' trait of a Selection expected one of the model's layers "
            f"({_names(self.valid_layers)}), not {name!r}.{hint} All names: selection.valid_layers."
        )

    def _check_index(self, i: int, what: str) -> int:
        if i < 0:
            raise SelectionError(
                f"The '{what}' trait of a Selection expected an SVD neuron index >= 0 "
                f"(0 = largest singular value), not {i}."
            )
        rank = self.ranks.get(self.layer) if self.layer is not None else None
        if rank is not None and i >= rank:
            raise SelectionError(
                f"The '{what}' trait of a Selection expected an index below {rank} "
                f"(layer {self.layer!r} has {rank} singular values), not {i}."
            )
        return i

    @validate("neuron")
    def _valid_neuron(self, proposal: Any) -> Any:
        i = proposal["value"]
        return i if i is None else self._check_index(i, "neuron")

    @validate("neurons")
    def _valid_neurons(self, proposal: Any) -> Any:
        return [self._check_index(i, "neurons") for i in proposal["value"]]

    def _check_class(self, c: int, what: str) -> int:
        n = len(self.class_names)
        if c < 0 or (n and c >= n):
            valid = f"0 ... {n - 1} ({_names(self.class_names, 4)})" if n else ">= 0"
            raise SelectionError(
                f"The '{what}' trait of a Selection expected a class index {valid}, not {c}."
            )
        return c

    @validate("class_label")
    def _valid_class_label(self, proposal: Any) -> Any:
        c = proposal["value"]
        return c if c is None else self._check_class(c, "class_label")

    @validate("class_labels")
    def _valid_class_labels(self, proposal: Any) -> Any:
        return [self._check_class(c, "class_labels") for c in proposal["value"]]

    @validate("image_index")
    def _valid_image_index(self, proposal: Any) -> Any:
        i = proposal["value"]
        if i is None:
            return i
        if i < 0 or (self.n_images is not None and i >= self.n_images):
            limit = f"0 ... {self.n_images - 1}" if self.n_images is not None else ">= 0"
            raise SelectionError(
                f"The 'image_index' trait of a Selection expected an image index {limit}, not {i}."
            )
        return i

    # -- consistency ---------------------------------------------------------------------------------
    @observe("layer")
    def _drop_out_of_range(self, change: Any) -> None:
        """Keep the SVD neuron when the new layer has it (browse 'the top neuron' across layers)."""
        rank = self.ranks.get(change["new"]) if change["new"] is not None else None
        if rank is None:
            return
        if self.neuron is not None and self.neuron >= rank:
            self.neuron = None
        if any(i >= rank for i in self.neurons):
            self.neurons = [i for i in self.neurons if i < rank]

    @observe("neuron")
    def _leave_neurons(self, change: Any) -> None:
        """A focus outside the multi-selection ends the multi-selection."""
        if change["new"] is not None and self.neurons and change["new"] not in self.neurons:
            self.neurons = []

    @observe("class_label")
    def _leave_labels(self, change: Any) -> None:
        if change["new"] is not None and self.class_labels and change["new"] not in self.class_labels:
            self.class_labels = []

    @observe("valid_layers")
    def _drop_unknown_layer(self, change: Any) -> None:
        if self.layer is not None and change["new"] and self.layer not in change["new"]:
            self.layer = None
