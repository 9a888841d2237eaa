"""SpectralAnalysis: the kernel-side object a user holds to look at a model's weight spectra.

Lazy and cached per layer: singular values are computed only when a table or a spectrum needs them,
U and V only when `svd(name)` asks for vectors. Every cached value is keyed to the weight it came from
(the tensors' identity, storage and in-place version), so after an optimiser step, a `load_state_dict`
or any in-place edit the next query recomputes that layer, and an unchanged model recomputes nothing.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from .core import (
    LayerInfo,
    LayerSVD,
    NoWeightedLayersError,
    Spectrum,
    alpha_hat,
    baseline_weight,
    check_weight,
    list_layers,
    singular_values,
    spectrum_metrics,
    unfold_weight,
)
from .core.decompose import sort_group_values
from .core.errors import (
    LayerNotDecomposableError,
    LayerNotProfilableError,
    MetaDeviceError,
    UnknownOptionError,
    unknown_layer,
    unknown_option,
)
from .core.marchenko_pastur import MP_METHODS
from .core.spectra import CONVENTIONS, NORMALIZATIONS, SpectrumSettings, format_number, get_view
from .core.weights import (
    fingerprint,
    raw_weight,
    read_weight,
    unwrap_model,
    weight_fingerprint,
    weight_sources,
)

COMPARE_METRICS = ("alpha", "num_spikes", "stable_rank", "spectral_norm", "mp_sigma2", "ks_distance")


def _shape_str(shape: Sequence[int]) -> str:
    return "×".join(str(s) for s in shape)


@dataclass
class _LayerCache:
    """Everything computed from one layer's weights, valid while `key` (their fingerprint) holds."""

    key: tuple
    values: torch.Tensor | None = None  # (g, r) block singular values, CPU
    svd: LayerSVD | None = None
    spectra: dict[tuple, Spectrum] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    baselines: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    projections: dict[tuple, torch.Tensor] = field(default_factory=dict)


def _decomposition_dtype(dtype: torch.dtype | None, model: nn.Module) -> torch.dtype:
    if dtype is None:
        floats = [p.dtype for p in model.parameters() if p.is_floating_point()]
        return torch.float64 if floats and floats[0] == torch.float64 else torch.float32
    if dtype not in (torch.float32, torch.float64):
        raise UnknownOptionError(
            f"decompositions run in float32 or float64, not {dtype}: pass dtype=torch.float32 (default) or "
            f"torch.float64; half and bfloat16 models are decomposed in float32 automatically"
        )
    return dtype


class SpectralAnalysis:
    """The SVD and spectral view of every weight matrix of a model (Conv, Linear, attention Q/K/V).

    >>> sa = SpectralAnalysis(torchvision.models.resnet18(weights=None))
    >>> sa.metrics()                 # one row per layer, forward order
    >>> sa.spectrum("layer1.0.conv1", view="operator")
    >>> sa.svd("fc").singular_filter(0)

    example_input: a tensor the model accepts (batch of 1 is enough) for the probe pass that finds forward
    order and input sizes; inferred from the first layer when omitted (cast to the model's dtype and
    device). normalization: "mm" (σ²/N, default) or "ddp" (σ²/rows). dtype: float32 or float64 for the
    decompositions (default: float64 for float64 models and under convention="ww", float32 otherwise,
    half models included).
    convention: "default", or "ww" for WeightWatcher 0.7.7's numbers in the columns named like its own
    (pooled k×k slices, Conv2d scaled by √½, eigenvalues not divided by N, its x_min search); see
    docs/metrics.md. max_candidates: cap the power-law x_min scan (default: every candidate; a cap is
    recorded in the fits' notes). torch.compile / DataParallel wrappers are unwrapped.
    """

    def __init__(
        self,
        model: nn.Module,
        example_input: Any = None,
        *,
        normalization: str = "mm",
        dtype: torch.dtype | None = None,
        mp_method: str = "median",
        convention: str = "default",
        max_candidates: int | None = None,
        progress: bool = True,
    ) -> None:
        model = unwrap_model(model)
        if normalization not in NORMALIZATIONS[:2]:
            raise unknown_option(
                "normalization", normalization, ["mm (Martin–Mahoney, σ²/N)", "ddp (σ²/rows)"]
            )
        if mp_method not in MP_METHODS:
            raise unknown_option("MP fit method", mp_method, MP_METHODS)
        if convention not in CONVENTIONS:
            raise unknown_option("convention", convention, CONVENTIONS)
        meta = [n for n, p in model.named_parameters() if p.is_meta]
        if meta:
            raise MetaDeviceError(
                f"the model's parameters are on the meta device (e.g. '{meta[0]}') and hold no values: "
                f"materialise them with model.to_empty(device='cpu') and load a checkpoint first"
            )
        self.model = model
        self.layers = list_layers(model, example_input)
        ww = convention == "ww"
        self.convention = convention
        self.normalization = "ww" if ww else normalization
        self.dtype = (
            torch.float64 if ww and dtype is None else _decomposition_dtype(dtype, model)
        )  # ww: as its numpy
        self.mp_method = mp_method
        self.settings = SpectrumSettings(
            self.normalization, mp_method, self.dtype, "ww" if ww else "csn", max_candidates, ww_slices=ww
        )
        self.default_view = "slices" if ww else "unfolded"
        self.progress = progress
        self.computed: Counter[str] = Counter()  # what was computed, by kind (tests and benchmarks read it)
        self._cache: dict[str, _LayerCache] = {}
        if not self.layers.decomposable:
            reasons = "; ".join(f"{i.name}: {i.reason}" for i in self.layers[:3])
            raise NoWeightedLayersError(
                f"{type(model).__name__} has no layer ddp-widgets can decompose (it handles Conv1d/2d/3d, "
                f"ConvTranspose1d/2d/3d, Linear and attention){': ' + reasons if reasons else ''}. Pass a "
                "CNN, e.g. torchvision.models.resnet18(weights=None)"
            )

    # -- layers -------------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Names of the decomposable layers, in forward order."""
        return self.layers.decomposable.names

    def info(self, name: str) -> LayerInfo:
        return self.layers.get(name)

    def module(self, name: str) -> nn.Module:
        """The module owning the layer's weight (for a Q/K/V block: the MultiheadAttention)."""
        return self.model.get_submodule(self.info(name).module_path)

    def weight(self, name: str) -> torch.Tensor:
        """The layer's effective weight as it is now (detached; dequantized, parametrization applied)."""
        info = self._check(name)
        return read_weight(self.module(name), info.parameter, info.rows)

    def _check(self, name: str) -> LayerInfo:
        if name not in self.names:
            if name in self.layers.names:
                raise LayerNotDecomposableError(
                    f"layer '{name}' cannot be decomposed: {self.info(name).reason}"
                )
            raise unknown_layer(name, self.names)
        return self.info(name)

    def profilable_layers(self) -> list[str]:
        """The layers a Profiler can capture SVD-neuron signals of (its default), in forward order."""
        return self.layers.profilable.names

    def check_profilable(self, name: str) -> LayerInfo:
        """The layer's info, or an error saying why it cannot be profiled and what to pass instead."""
        if name not in self.layers.names:
            raise unknown_layer(name, self.profilable_layers())
        info = self.info(name)
        if not info.profilable:
            ok = self.profilable_layers()
            raise LayerNotProfilableError(
                f"layer '{name}' ({info.kind}) cannot be profiled: {info.profile_reason or info.reason}. "
                f"Pass layers=[...] with profilable layers"
                + (f", e.g. layers={ok[:3]!r} (all: SpectralAnalysis.profilable_layers())" if ok else "")
            )
        return info

    # -- caches -------------------------------------------------------------------------------------
    def _layer(self, name: str) -> _LayerCache:
        """The cache of one layer, emptied first when its weights changed since it was filled."""
        info = self.info(name)
        key = weight_fingerprint(self.module(name), info.parameter)
        cache = self._cache.get(name)
        if cache is None or cache.key != key:
            cache = self._cache[name] = _LayerCache(key)
        return cache

    def refresh(self) -> None:
        """Drop every cached value (they are also dropped layer by layer when weights change)."""
        self._cache.clear()

    def is_computed(self, name: str) -> bool:
        """Whether the layer's metrics are cached for its current weights (nothing is computed)."""
        return self.cached_metrics(name) is not None

    def cached_metrics(self, name: str) -> dict[str, Any] | None:
        """The layer's metrics if computed for its current weights, else None (nothing is computed)."""
        return self._layer(self._check(name).name).metrics

    def cached_baseline_metrics(
        self, name: str, baseline: Any = "permuted", seed: int = 0
    ) -> dict[str, Any] | None:
        """The layer's baseline metrics if computed for its current weights, else None."""
        return self._layer(self._check(name).name).baselines.get(self._baseline_key(name, baseline, seed))

    @property
    def _metrics(self) -> dict[str, dict[str, Any]]:
        """Bridge for views that still read the old private dict: the metrics valid for the current
        weights, by layer. Use `cached_metrics(name)` instead; this goes once the views have switched."""
        return {n: m for n in self.names if n in self._cache and (m := self.cached_metrics(n)) is not None}

    # -- decompositions -----------------------------------------------------------------------------
    def _matrix(self, name: str, check: bool = True) -> torch.Tensor:
        w = self.weight(name)
        if check:
            check_weight(w, f"layer '{name}'")
        return unfold_weight(w, self.info(name).groups, dtype=self.dtype)

    def _ensure_values(self, names: Iterable[str], desc: str = "singular values") -> None:
        todo = [n for n in names if self._layer(n).values is None and self._layer(n).svd is None]
        if not todo:
            return
        chunk = 8
        bar = tqdm(
            total=len(todo), desc=desc, unit="layer", delay=0.5, disable=not self.progress, leave=False
        )
        try:
            for lo in range(0, len(todo), chunk):
                part = todo[lo : lo + chunk]
                # weights are checked only when the SVD fails or gives non-finite values: a full
                # isfinite scan of every weight would cost more than the fits
                mats = [self._matrix(n, check=False) for n in part]
                try:
                    with torch.no_grad():
                        vals = singular_values(mats)
                except RuntimeError:
                    for n in part:  # LAPACK refuses non-finite input: name the bad layer; cache nothing
                        check_weight(self.weight(n), f"layer '{n}'")
                    raise
                for n, v in zip(part, vals):
                    if not bool(torch.isfinite(v).all()):
                        check_weight(self.weight(n), f"layer '{n}'")
                    self._layer(n).values = v.detach().cpu()
                    self.computed["values"] += 1
                bar.update(len(part))
        finally:
            bar.close()

    def values(self, name: str) -> torch.Tensor:
        """All singular values of a layer's unfolded matrix, descending (fast path: no U or V)."""
        self._check(name)
        cache = self._layer(name)
        if cache.svd is not None:
            return cache.svd.values.detach().cpu()
        self._ensure_values([name])
        assert cache.values is not None
        return sort_group_values(cache.values)[0]

    def svd(self, name: str) -> LayerSVD:
        """The layer's full decomposition of its current weights (U and V computed on first use, cached)."""
        info = self._check(name)
        cache = self._layer(name)
        if cache.svd is None:
            cache.svd = LayerSVD(
                self._matrix(name).clone(),
                info.weight_shape,
                name=name,
                kind=info.kind,
                transposed=info.transposed,
                values=cache.values,
            )
            self.computed["svd"] += 1
        return cache.svd

    def projection(self, name: str) -> torch.Tensor:
        """P (R, d) with P @ (y − b) = the SVD-neuron signals, in the layer's dtype and on its device.

        Computed from the SVD (float32 or better) of the current weights, cached until they change.
        """
        info = self._check(name)
        cache = self._layer(name)
        raw = raw_weight(self.module(name), info.parameter)
        if isinstance(raw, torch.Tensor):
            where = (raw.dtype if raw.is_floating_point() else torch.float32, raw.device)
        else:
            where = (torch.float32, torch.device("cpu"))
        if where not in cache.projections:
            cache.projections[where] = self.svd(name).projection().to(device=where[1], dtype=where[0])
            self.computed["projection"] += 1
        return cache.projections[where]

    # -- spectra ------------------------------------------------------------------------------------
    def input_size(self, name: str) -> tuple[int, ...] | None:
        shape = self.info(name).input_shape
        return tuple(shape[2:]) if shape is not None and len(shape) > 2 else None

    def spectrum(
        self,
        name: str,
        view: str | None = None,
        *,
        input_size: Any = None,
        baseline: Any = None,
        seed: int = 0,
    ) -> Spectrum:
        """One view of a layer's spectrum (a name in core.spectra.VIEWS), with MP and power-law fits.

        view: "unfolded" (default; "slices" under convention="ww") | "slices" | "operator".
        baseline: None for the trained weights, or a name in core.baselines.BASELINES / a reference model.
        """
        info = self._check(name)
        view = self.default_view if view is None else view
        get_view(view)
        size = None if input_size is None else tuple(int(s) for s in np.atleast_1d(input_size))
        key = (view, size, self._baseline_key(name, baseline, seed))
        cache = self._layer(name)
        if key not in cache.spectra:
            cache.spectra[key] = self._compute_spectrum(info, view, input_size, baseline, seed)
            self.computed["spectrum"] += 1
        return cache.spectra[key]

    def _compute_spectrum(
        self, info: LayerInfo, view: str, input_size: Any, baseline: Any, seed: int
    ) -> Spectrum:
        spec_view = get_view(view)
        weight = self.weight(info.name)
        note = ""
        if baseline is None:
            check_weight(weight, f"layer '{info.name}'")
        else:
            made = baseline_weight(baseline, info, self.module(info.name), weight, seed)
            weight, note = made.weight, made.note
        options: dict[str, Any] = {}
        if view == "unfolded" and baseline is None:
            options["singular_values"] = self.values(info.name)
        if "input_size" in spec_view.options:
            options["input_size"] = input_size if input_size is not None else self.input_size(info.name)
        spec = spec_view.compute(weight, info, self.settings, **options)
        if note:
            spec = replace(spec, note="; ".join(p for p in (spec.note, f"baseline: {note}") if p))
        return spec

    def _baseline_key(self, name: str, baseline: Any, seed: int) -> Any:
        if baseline is None:
            return None
        if isinstance(baseline, str):
            return (baseline, seed)
        if isinstance(baseline, nn.Module):
            info = self.info(name)
            try:
                ref = unwrap_model(baseline).get_submodule(info.module_path)
                return ("model", id(baseline), fingerprint(weight_sources(ref, info.parameter)))
            except (AttributeError, TypeError):
                return ("model", id(baseline))
        raise unknown_option(
            "baseline", baseline, ["permuted", "random-init", "a model of the same architecture"]
        )

    # -- tables -------------------------------------------------------------------------------------
    def layer_metrics(self, name: str) -> dict[str, Any]:
        """Metrics of one layer (the default view), as a dict; computed once per weights."""
        cache = self._layer(self._check(name).name)
        if cache.metrics is None:
            cache.metrics = self._row(name, self.spectrum(name))
            self.computed["metrics"] += 1
        return cache.metrics

    def baseline_metrics(self, name: str, baseline: Any = "permuted", seed: int = 0) -> dict[str, Any]:
        """Metrics of the layer's baseline spectrum (default view), computed once per weights."""
        cache = self._layer(self._check(name).name)
        key = self._baseline_key(name, baseline, seed)
        if key not in cache.baselines:
            cache.baselines[key] = self._row(name, self.spectrum(name, baseline=baseline, seed=seed))
            self.computed["baseline"] += 1
        return cache.baselines[key]

    def _row(self, name: str, spec: Spectrum) -> dict[str, Any]:
        info = self.info(name)
        return {
            "layer": name,
            "kind": info.kind,
            "shape": _shape_str(info.weight_shape),
            "groups": info.groups,
            **spectrum_metrics(spec),
        }

    def metrics(self, layers: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per layer in forward order; columns named like WeightWatcher's where meanings match
        (docs/metrics.md says what each column holds under each convention)."""
        names = list(layers) if layers is not None else self.names
        for n in names:
            self._check(n)
        if self.default_view == "unfolded":
            self._ensure_values(names)
        rows = [
            self.layer_metrics(n)
            for n in tqdm(names, desc="fits", unit="layer", delay=0.5, disable=not self.progress, leave=False)
        ]
        return pd.DataFrame(rows)

    def alpha_hat(self, base: float = math.e) -> float:
        """The model metric α̂ = mean over layers of α · log λ_max (natural log, as DDP)."""
        df = self.metrics()
        return alpha_hat(df["alpha"].to_numpy(), df["lambda_max"].to_numpy(), base)

    def compare(
        self,
        baseline: str | nn.Module = "permuted",
        *,
        seed: int = 0,
        z: float = 2.0,
        min_extra_spikes: int = 2,
    ) -> pd.DataFrame:
        """Trained spectra against a baseline: "permuted", "random-init" or a reference model.

        A layer differs from its baseline when it has at least `min_extra_spikes` more eigenvalues above the
        MP bulk edge (a random matrix's top eigenvalues fluctuate around λ₊, so one extra is no evidence), or
        a clearly heavier tail: heavy-tailed itself (α ≤ 6, WeightWatcher's bound, with eigenvalues beyond
        λ₊) and α below the baseline's by more than z combined standard errors ((α − 1)/√n_tail each).
        Power-law fits of random (MP) spectra scatter widely, hence these guards; the raw columns are all
        returned for other judgements.
        """
        trained = self.metrics().set_index("layer")
        rows = []
        desc = f"baseline: {baseline if isinstance(baseline, str) else type(baseline).__name__}"
        for n in tqdm(self.names, desc=desc, unit="layer", delay=0.5, disable=not self.progress, leave=False):
            base = self.baseline_metrics(n, baseline, seed)
            row: dict[str, Any] = {"layer": n}
            for m in (*COMPARE_METRICS, "alpha_sigma"):
                row[m] = trained.loc[n, m]
                row[f"{m}_baseline"] = base[m]
            gap = row["alpha_baseline"] - row["alpha"]
            noise = z * math.hypot(row["alpha_sigma"], row["alpha_sigma_baseline"])
            row["more_spikes"] = bool(row["num_spikes"] - row["num_spikes_baseline"] >= min_extra_spikes)
            heavy = row["alpha"] <= 6 and row["num_spikes"] >= 1
            row["heavier_tail"] = bool(np.isfinite(gap) and gap > noise and heavy)
            row["differs"] = row["more_spikes"] or row["heavier_tail"]
            rows.append(row)
        return pd.DataFrame(rows)

    # -- display ------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return (
            f"SpectralAnalysis({type(self.model).__name__}: {len(self.names)} weighted layers, "
            f"normalization={self.normalization!r}, convention={self.convention!r})"
        )

    def _repr_html_(self) -> str:
        esc = html.escape
        cached = self._metrics
        n_other = len(self.layers) - len(self.names)
        head = (
            f"<b>SpectralAnalysis</b> of <code>{esc(type(self.model).__name__)}</code>: "
            f"{len(self.names)} decomposable layers"
            + (f", {n_other} listed with a reason" if n_other else "")
            + f"; {len(cached)} analysed (call <code>.metrics()</code>)"
        )
        cols = ("#", "layer", "kind", "weight", "α", "stable rank", "spikes")
        body = []
        for i, n in enumerate(self.names[:12]):
            info, m = self.info(n), cached.get(n) or {}
            cells = [
                str(i),
                f"<code>{esc(n)}</code>",
                esc(info.kind),
                _shape_str(info.weight_shape),
                format_number(m.get("alpha", "·")),
                format_number(m.get("stable_rank", "·")),
                esc(str(m.get("num_spikes", "·"))),
            ]
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        more = f"<tr><td colspan=7>… {len(self.names) - 12} more</td></tr>" if len(self.names) > 12 else ""
        return (
            f"<div>{head}<table><thead><tr>{''.join(f'<th>{c}</th>' for c in cols)}</tr></thead>"
            f"<tbody>{''.join(body)}{more}</tbody></table></div>"
        )
