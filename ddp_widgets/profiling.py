"""Profiler and Profile: SVD-neuron signals of a model over a dataset, per class, streaming.

>>> prof = Profiler(model)                     # all decomposable Conv/Linear layers
>>> profile = prof.profile(loader)             # DataLoader / Dataset / (x, y) iterable / tensor + labels
>>> profile.per_class("features.0")            # DataFrame
>>> profile.hypergraph(top_k=16).to_hypernetx()
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ._data import as_batch, batches, check_labels
from ._progress import transient_progress
from .analysis import SpectralAnalysis
from .core.errors import DataError, InputShapeError, LayerNotDecomposableError, unknown_layer
from .core.featvis import FeatureVisualization, image_input_shape, visualize_neuron
from .core.hypergraph import ClassHypergraph, build_hypergraph, class_neuron_sets, separation_figures
from .core.layers import call_model, expected_input_hint, preserved_modes, to_model_input
from .core.profile import AGGREGATIONS, LayerAccumulator, SignalSpec, capture_signals, influential

FORMAT_VERSION = 1


class Profiler:
    """Binds a model (or a SpectralAnalysis of it) and the layers to profile.

    layers: names of Conv/Linear layers (default: every decomposable layer except transposed convs,
    whose outputs live in a folded space the projection does not apply to).
    """

    def __init__(self, model: nn.Module | SpectralAnalysis, layers: Sequence[str] | None = None, *, example_input: Any = None) -> None:
        if isinstance(model, SpectralAnalysis):
            self.analysis = model
        else:  # decomposes in float64 for float64 models, float32 otherwise (half models included)
            self.analysis = SpectralAnalysis(model, example_input, progress=False)
        self.model = self.analysis.model
        if layers is None:  # layers the probe saw called, with an output to hook
            self.layers = self.analysis.profilable_layers()
        else:
            self.layers = [layers] if isinstance(layers, str) else list(layers)
            for name in self.layers:
                self.analysis.check_profilable(name)
        if not self.layers:
            raise LayerNotDecomposableError(
                "no layer to profile: " + "; ".join(f"{i.name}: {i.profile_reason}" for i in self.analysis.layers[:3])
            )

    # -- signals ------------------------------------------------------------------------------------
    def _spec(self, name: str) -> SignalSpec:
        module = self.analysis.module(name)
        p = self.analysis.projection(name)  # of the current weights, in the module's dtype and device
        bias = module.bias.detach() if module.bias is not None else None
        return SignalSpec(p, bias, isinstance(module, nn.Linear))

    def _expected_shape(self) -> str:
        first = self.analysis.layers[0]
        if first.input_shape is not None and first.order == 0:
            return "(batch, " + ", ".join(map(str, first.input_shape[1:])) + ")"
        return expected_input_hint(self.analysis.module(first.name)) if first.decomposable else "what the model accepts"

    def _run(self, x: torch.Tensor, layers: Sequence[str], how: str, full: bool) -> dict[str, torch.Tensor]:
        modules = {n: self.analysis.module(n) for n in layers}
        specs = {n: self._spec(n) for n in layers}
        x = to_model_input(x, self.model)
        with capture_signals(modules, specs, how, full) as out, preserved_modes(self.model), torch.no_grad():
            try:
                call_model(self.model, x)
            except Exception as exc:
                raise InputShapeError(
                    f"the model failed on inputs of shape {tuple(x.shape)}: {exc}. Inputs must have the shape "
                    f"{self._expected_shape()}"
                ) from exc
        missing = [n for n in layers if n not in out]
        if missing:
            raise LayerNotDecomposableError(
                f"layer(s) {', '.join(missing)} were not called by the model's forward pass, so they cannot be profiled"
            )
        return dict(out)

    def signals(self, x: torch.Tensor, aggregation: str = "mean", layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Aggregated SVD-neuron signals per layer, each (batch, R), SVD neurons in descending σ order."""
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {aggregation!r}: use one of {', '.join(AGGREGATIONS)}")
        return self._run(as_batch(x), self._names(layers), aggregation, full=False)

    def projections(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        """The full per-position map Uᵀ(Y − b) of one layer: (batch, R, *spatial)."""
        return self._run(as_batch(x), self._names([layer]), "mean", full=True)[layer]

    def influential(self, x: torch.Tensor, layer: str, threshold: float = 0.1, aggregation: str = "mean") -> list[dict[int, float]]:
        """For each input: its influential SVD neurons of `layer` with DDP weights ({α: weight})."""
        sig = self.signals(x, aggregation, [layer])[layer]
        mask, ddp_w, _ = influential(sig, threshold)
        return [{int(a): float(ddp_w[i, a]) for a in torch.nonzero(mask[i]).flatten()} for i in range(sig.shape[0])]

    def visualize(
        self,
        layer: str,
        alpha: int,
        *,
        steps: int = 512,
        size: int | Sequence[int] | None = None,
        seed: int = 0,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
        lr: float = 0.05,
    ) -> FeatureVisualization:
        """Feature visualisation of SVD neuron α of `layer` (PAPER §5): an image maximising its mean signal.

        The image is optimised on the model's device (Fourier parameters with 1/f scaling, colour
        decorrelation for RGB, random jitter/scale/rotation each step, Adam). size: (H, W) or one int
        (default: the probe input's size); mean, std: the model's input normalisation per channel on the
        [0, 1] image (e.g. ddp_widgets.zoo.MEAN / STD for the default model; None feeds [0, 1] as it is).
        Returns a FeatureVisualization: .image (C, H, W) in [0, 1], .input (normalised, for the model),
        .history (objective per step).
        """
        name = self._names([layer])[0]
        channels, h, w = image_input_shape(self.analysis.layers)
        return visualize_neuron(
            self.model, self.analysis.module(name), self._spec(name), alpha, layer=name, channels=channels,
            size=(h, w) if size is None else size, steps=steps, seed=seed, mean=mean, std=std, lr=lr,
        )

    def _names(self, layers: Sequence[str] | None) -> list[str]:
        if layers is None:
            return list(self.layers)
        names = [layers] if isinstance(layers, str) else list(layers)
        for n in names:
            if n not in self.layers:
                raise unknown_layer(n, self.layers)
        return names

    # -- profiles -----------------------------------------------------------------------------------
    def profile(
        self,
        data: Any,
        labels: Any = None,
        *,
        batch_size: int = 64,
        top_n: int = 16,
        threshold: float = 0.1,
        aggregation: str = "mean",
        class_names: Sequence[str] | None = None,
        max_batches: int | None = None,
        progress: bool = True,
    ) -> Profile:
        """Stream `data` through the model and accumulate per-class SVD-neuron statistics.

        data: a DataLoader, a Dataset, an iterable of (x, y) batches, or a tensor of inputs (with `labels`).
        Unlabelled data is profiled as one class "all". Image indices are positions in iteration order.
        """
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {aggregation!r}: use one of {', '.join(AGGREGATIONS)}")
        stream, total, names_from_labels = batches(data, labels, batch_size)
        if class_names is None and names_from_labels is not None:
            class_names = names_from_labels
        accs = {n: LayerAccumulator(self.analysis.svd(n).rank, top_n, threshold) for n in self.layers}
        n_classes = len(class_names) if class_names is not None else 0
        seen = 0
        shown = transient_progress(progress, "profiled")  # no progress widget left in a saved notebook
        bar = tqdm(total=total, desc="profiling", unit="batch", delay=0.5, disable=not progress, leave=False)
        try:
            for b, (x, y) in enumerate(stream):
                if max_batches is not None and b >= max_batches:
                    break
                y = check_labels(y, x.shape[0], n_classes if class_names is not None else None)
                n_classes = max(n_classes, int(y.max()) + 1 if y.numel() else 0)
                sig = self._run(x, self.layers, aggregation, full=False)
                idx = torch.arange(seen, seen + x.shape[0])
                for n, acc in accs.items():
                    acc.grow(n_classes)
                    acc.update(sig[n], y, idx)
                seen += x.shape[0]
                bar.update(1)
        finally:
            bar.close()
            shown.close()
        if seen == 0:
            raise DataError("the dataset is empty: no batch was produced, so there is nothing to profile")
        if class_names is None:
            class_names = [str(c) for c in range(n_classes)] if labels is not None or n_classes > 1 else ["all"]
        class_names = list(class_names)
        for acc in accs.values():
            acc.grow(len(class_names))
        sv = {n: self.analysis.svd(n).values.detach().cpu().double().numpy() for n in self.layers}
        meta = {"aggregation": aggregation, "threshold": threshold, "top_n": top_n, "n_images": seen,
                "model": type(self.model).__name__}
        return Profile(self.layers, class_names, accs, sv, meta)


class Profile:
    """Per-class aggregates of SVD-neuron signals over a dataset (see Profiler.profile)."""

    def __init__(self, layers: Sequence[str], class_names: Sequence[str], accs: dict[str, LayerAccumulator],
                 singular_values: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.layers = list(layers)
        self.class_names = list(class_names)
        self._acc = accs
        self._sv = singular_values
        self.meta = dict(meta)

    # -- raw views ----------------------------------------------------------------------------------
    @property
    def n_images(self) -> int:
        return int(self.meta["n_images"])

    @property
    def class_counts(self) -> np.ndarray:
        return self._acc[self.layers[0]].count.copy()

    def _a(self, layer: str) -> LayerAccumulator:
        if layer not in self._acc:
            raise unknown_layer(layer, self.layers)
        return self._acc[layer]

    def singular_values(self, layer: str) -> np.ndarray:
        self._a(layer)
        return self._sv[layer]

    def class_mean(self, layer: str) -> np.ndarray:
        """(C, R) mean aggregated signal per class (NaN for classes with no images)."""
        a = self._a(layer)
        with np.errstate(invalid="ignore", divide="ignore"):
            return a.sum / a.count[:, None]

    def class_std(self, layer: str) -> np.ndarray:
        a = self._a(layer)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = a.sum / a.count[:, None]
            return np.sqrt(np.maximum(a.sumsq / a.count[:, None] - mean**2, 0.0))

    def overall_mean(self, layer: str) -> np.ndarray:
        a = self._a(layer)
        return a.sum.sum(0) / max(int(a.count.sum()), 1)

    def influence_counts(self, layer: str) -> np.ndarray:
        """(C, R): how many images of each class had SVD neuron α among their influential neurons."""
        return self._a(layer).infl_count.copy()

    def influence_weights(self, layer: str, kind: str = "normalized") -> np.ndarray:
        """(C, R) summed influence weights: "normalized" (each image's kept weights sum to 1) or "ddp"."""
        a = self._a(layer)
        if kind not in ("normalized", "ddp"):
            raise ValueError("kind must be 'normalized' or 'ddp'")
        return (a.infl_weight if kind == "normalized" else a.infl_ddp).copy()

    def top_images(self, layer: str, alpha: int, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Dataset indices and scores of the images with the largest signal of SVD neuron α."""
        a = self._a(layer)
        if not 0 <= alpha < a.rank:
            raise IndexError(f"SVD neuron {alpha} out of range: layer '{layer}' has {a.rank}")
        k = a.top_score.shape[0] if n is None else min(n, a.top_score.shape[0])
        return a.top_index[:k, alpha].astype(np.int64), a.top_score[:k, alpha].copy()

    def class_influential(self, layer: str, threshold: float | None = None, top_k: int | None = None) -> dict[str, list[int]]:
        """Each class's influential SVD neurons of its mean signal (threshold rule, all neurons by default)."""
        t = self.meta["threshold"] if threshold is None else threshold
        sets = class_neuron_sets(np.nan_to_num(self.class_mean(layer)), self._sv[layer], top_k=top_k, threshold=t)
        return {name: sorted(s) for name, s in zip(self.class_names, sets)}

    # -- tables -------------------------------------------------------------------------------------
    def per_class(self, layer: str) -> pd.DataFrame:
        """Long table: one row per (class, SVD neuron) with mean, std, influence count and weight."""
        mean, std = self.class_mean(layer), self.class_std(layer)
        cnt, w = self.influence_counts(layer), self.influence_weights(layer)
        rows = []
        for c, name in enumerate(self.class_names):
            for a in range(mean.shape[1]):
                rows.append({"class": name, "alpha": a, "sigma": self._sv[layer][a], "mean": mean[c, a], "std": std[c, a],
                             "influential_count": int(cnt[c, a]), "influence_weight": w[c, a]})
        return pd.DataFrame(rows)

    def per_layer(self) -> pd.DataFrame:
        """One row per layer: rank, the most influential neuron overall and its share of images."""
        rows = []
        for layer in self.layers:
            cnt = self.influence_counts(layer).sum(0)
            top = int(np.argmax(cnt))
            rows.append({"layer": layer, "rank": len(self._sv[layer]), "top_neuron": top,
                         "top_neuron_share": float(cnt[top]) / max(self.n_images, 1),
                         "mean_influential_per_image": float(cnt.sum()) / max(self.n_images, 1)})
        return pd.DataFrame(rows)

    # -- hypergraphs --------------------------------------------------------------------------------
    def _sets(self, layer: str, top_k: int | None, threshold: float | None, rank_by: str, top_n: int | None,
              center: bool = False) -> list[set[int]]:
        t = self.meta["threshold"] if threshold is None else threshold
        present = self.class_counts > 0
        means = np.nan_to_num(self.class_mean(layer))
        if center:  # what sets each class apart: its mean minus the mean over all images
            means = means - self.overall_mean(layer)[None, :]
        sets = class_neuron_sets(means, self._sv[layer], top_k=top_k, threshold=t, rank_by=rank_by, top_n=top_n)
        return [s if present[c] else set() for c, s in enumerate(sets)]

    def hypergraph(self, layers: Sequence[str] | str | None = None, top_k: int | None = 16, threshold: float | None = None,
                   dual: bool = False, *, rank_by: str = "sigma", top_n: int | None = None,
                   center: bool = False) -> ClassHypergraph:
        """Classes ↔ SVD neurons of the chosen layers (union across layers; edges named "layer:α").

        top_k: candidate neurons per layer (by σ, or by mean |signal| with rank_by="signal"; None = all);
        threshold: the influence rule's t (default: the profile's); top_n: instead of the rule, each class's
        n strongest candidates; center: use class means minus the overall mean (what sets a class apart)
        instead of the plain class means of PAPER §4.
        """
        names = self.layers if layers is None else ([layers] if isinstance(layers, str) else list(layers))
        sets = {n: self._sets(self._check_layer(n), top_k, threshold, rank_by, top_n, center) for n in names}
        weights = {n: np.nan_to_num(np.abs(self.class_mean(n))) for n in names}
        meta = {"layers": names, "top_k": top_k, "threshold": self.meta["threshold"] if threshold is None else threshold,
                "rank_by": rank_by, "center": center}
        return build_hypergraph(sets, [c for c in self.class_names], weights, dual=dual, meta=meta)

    def _check_layer(self, layer: str) -> str:
        self._a(layer)
        return layer

    def separation(self, top_k: int | None = 16, threshold: float | None = None, *, rank_by: str = "sigma",
                   top_n: int | None = None, center: bool = False) -> pd.DataFrame:
        """Per-layer class separation: mean hyperedge purity, mean pairwise Jaccard, s-components (s=1..3).

        Takes the same choices as `hypergraph`; classes without images are left out.
        """
        rows = []
        for i, layer in enumerate(self.layers):
            present = self.class_counts > 0
            sets = [s for s, p in zip(self._sets(layer, top_k, threshold, rank_by, top_n, center), present) if p]
            rows.append({"layer": layer, "depth": i, **separation_figures(sets)})
        return pd.DataFrame(rows)

    # -- persistence (npz + JSON, no pickle) --------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write `<path>.npz` (arrays) and `<path>.json` (metadata); returns the npz path."""
        base = Path(path)
        base = base.with_suffix("") if base.suffix in (".npz", ".json") else base
        arrays: dict[str, np.ndarray] = {}
        for i, layer in enumerate(self.layers):
            a = self._acc[layer]
            for key in ("count", "sum", "sumsq", "infl_count", "infl_ddp", "infl_weight", "top_score", "top_index"):
                arrays[f"{i}/{key}"] = getattr(a, key)
            arrays[f"{i}/sv"] = self._sv[layer]
        npz = base.with_suffix(".npz")
        np.savez_compressed(npz, **arrays)
        meta = {"format": FORMAT_VERSION, "layers": self.layers, "class_names": self.class_names, **self.meta}
        base.with_suffix(".json").write_text(json.dumps(meta, indent=1))
        return npz

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        base = Path(path)
        base = base.with_suffix("") if base.suffix in (".npz", ".json") else base
        meta = json.loads(base.with_suffix(".json").read_text())
        if meta.get("format") != FORMAT_VERSION:
            raise DataError(f"{base}.json is profile format {meta.get('format')!r}; this ddp-widgets reads format {FORMAT_VERSION}")
        accs, sv = {}, {}
        with np.load(base.with_suffix(".npz"), allow_pickle=False) as z:
            for i, layer in enumerate(meta["layers"]):
                acc = LayerAccumulator(int(z[f"{i}/sv"].size), int(meta["top_n"]), float(meta["threshold"]))
                for key in ("count", "sum", "sumsq", "infl_count", "infl_ddp", "infl_weight", "top_score", "top_index"):
                    setattr(acc, key, z[f"{i}/{key}"])
                acc.n_classes = int(acc.count.size)
                accs[layer], sv[layer] = acc, z[f"{i}/sv"]
        rest = {k: v for k, v in meta.items() if k not in ("format", "layers", "class_names")}
        return cls(meta["layers"], meta["class_names"], accs, sv, rest)

    # -- display ------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"Profile({self.meta.get('model', '')}: {self.n_images} images, {len(self.class_names)} classes, {len(self.layers)} layers)"

    def _repr_html_(self) -> str:
        counts = self.class_counts
        classes = ", ".join(f"{html.escape(n)} ({c})" for n, c in zip(self.class_names[:10], counts[:10]))
        if len(self.class_names) > 10:
            classes += ", …"
        rows = "".join(
            f"<tr><td><code>{html.escape(r.layer)}</code></td><td>{r.rank}</td><td>{r.top_neuron}</td>"
            f"<td>{r.top_neuron_share:.0%}</td><td>{r.mean_influential_per_image:.2f}</td></tr>"
            for r in self.per_layer().head(12).itertuples()
        )
        return (
            f"<div><b>Profile</b> of <code>{html.escape(str(self.meta.get('model', '')))}</code>: {self.n_images} images, "
            f"aggregation {self.meta['aggregation']}, threshold {self.meta['threshold']}<br>classes: {classes}"
            f"<table><thead><tr><th>layer</th><th>SVD neurons</th><th>most influential</th><th>share of images</th>"
            f"<th>influential / image</th></tr></thead><tbody>{rows}</tbody></table></div>"
        )
