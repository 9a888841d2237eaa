"""Profile: the per-class record of SVD-neuron signals over a dataset, to trust, save, reload and combine.

A profile knows which images it covers (dataset index ranges), which weights it was computed with (a
fingerprint of the profiled layers), and how it was computed (aggregation, threshold, top-n). Profiles of
disjoint parts of one dataset merge exactly: counts and top/bottom-n bit-identical, sums in float64.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .core.accumulator import CLASS_FIELDS, RANK_FIELDS, LayerStats
from .core.coverage import first_overlap, normalize_ranges
from .core.errors import (
    DDPWidgetsDeprecationWarning,
    InvalidArgumentError,
    NeuronIndexError,
    ProfileMergeError,
    unknown_layer,
)
from .core.hypergraph import ClassHypergraph, build_hypergraph, class_neuron_sets, separation_figures
from .core.profile_file import read_profile, write_profile

INFLUENCE_KINDS = ("normalized", "ddp")
MERGE_KEYS = ("aggregation", "threshold", "calls", "ignore_index")  # what profiles must share to be merged


class Profile:
    """Per-class aggregates of SVD-neuron signals over a dataset (see Profiler.profile).

    stats: per layer, a LayerStats (CPU tensors, no spare class rows); index_ranges: (k, 2) [start, stop) of
    the dataset indices covered; meta: how it was computed (aggregation, threshold, top_n, fingerprint, ...).
    """

    def __init__(
        self,
        layers: Sequence[str],
        class_names: Sequence[str],
        stats: dict[str, LayerStats],
        singular_values: dict[str, np.ndarray],
        meta: dict[str, Any],
        index_ranges: np.ndarray | None = None,
    ) -> None:
        self.layers = list(layers)
        self.class_names = list(class_names)
        self._stats = {n: s.compact(copy=False) for n, s in stats.items()}
        self._sv = {n: np.asarray(v, dtype=np.float64) for n, v in singular_values.items()}
        self.meta = dict(meta)
        self.index_ranges = normalize_ranges(
            np.zeros((0, 2), np.int64) if index_ranges is None else index_ranges
        )

    # -- raw views ----------------------------------------------------------------------------------
    @property
    def n_images(self) -> int:
        """Images profiled (ignored ones not included)."""
        return int(self.meta["n_images"])

    @property
    def n_ignored(self) -> int:
        """Images skipped because their label was `ignore_index`."""
        return int(self.meta.get("n_ignored", 0))

    @property
    def fingerprint(self) -> str:
        return str(self.meta.get("fingerprint", ""))

    @property
    def class_counts(self) -> np.ndarray:
        return self._s(self.layers[0]).count.numpy().copy()

    def _s(self, layer: str) -> LayerStats:
        if layer not in self._stats:
            raise unknown_layer(layer, self.layers)
        return self._stats[layer]

    def singular_values(self, layer: str) -> np.ndarray:
        self._s(layer)
        return self._sv[layer].copy()

    def _finite_counts(self, layer: str) -> np.ndarray:
        s = self._s(layer)
        return (s.count[:, None] - s.nonfinite).numpy().astype(np.float64)

    def class_mean(self, layer: str) -> np.ndarray:
        """(C, R) mean aggregated signal per class over its finite signals (NaN for classes with no
        images)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self._s(layer).sum.numpy() / self._finite_counts(layer)

    def class_std(self, layer: str) -> np.ndarray:
        s, n = self._s(layer), self._finite_counts(layer)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s.sum.numpy() / n
            return np.sqrt(np.maximum(s.sumsq.numpy() / n - mean**2, 0.0))

    def overall_mean(self, layer: str) -> np.ndarray:
        s = self._s(layer)
        return s.sum.numpy().sum(0) / np.maximum(self._finite_counts(layer).sum(0), 1)

    def nonfinite_counts(self, layer: str) -> np.ndarray:
        """(C, R): how many images of each class had a NaN/Inf signal of each SVD neuron (left out of the
        stats)."""
        return self._s(layer).nonfinite.numpy().copy()

    def influence_counts(self, layer: str) -> np.ndarray:
        """(C, R): how many images of each class had the SVD neuron among their influential neurons."""
        return self._s(layer).infl_count.numpy().copy()

    def influence_weights(self, layer: str, kind: str = "normalized") -> np.ndarray:
        """(C, R) summed influence weights: "normalized" (each image's kept weights sum to 1) or "ddp"."""
        if kind not in INFLUENCE_KINDS:
            raise InvalidArgumentError(f"kind must be 'normalized' or 'ddp', got {kind!r}")
        s = self._s(layer)
        return (s.infl_weight if kind == "normalized" else s.infl_ddp).numpy().copy()

    def _ranked(self, layer: str, neuron: Any, n: int | None, top: bool) -> tuple[np.ndarray, np.ndarray]:
        s = self._s(layer)
        if (
            isinstance(neuron, bool)
            or not isinstance(neuron, (int, np.integer))
            or not 0 <= int(neuron) < s.rank
        ):
            raise NeuronIndexError(
                f"SVD neuron {neuron!r} out of range: layer '{layer}' has {s.rank} (0..{s.rank - 1})"
            )
        if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0):
            raise InvalidArgumentError(f"n must be a non-negative number of images, got {n!r}")
        score, index = (s.top_score, s.top_index) if top else (s.bottom_score, s.bottom_index)
        idx, val = index[:, int(neuron)].numpy(), score[:, int(neuron)].numpy()
        keep = idx >= 0
        idx, val = idx[keep], val[keep]
        k = idx.size if n is None else min(int(n), idx.size)
        return idx[:k].astype(np.int64), val[:k].copy()

    def top_images(
        self, layer: str, neuron: int | None = None, n: int | None = None, *, alpha: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Dataset indices and signals of the images with the largest signal of an SVD neuron, largest first.

        Ties go to the smaller dataset index; images with a NaN/Inf signal never rank. `alpha=` is a
        deprecated alias of `neuron`.
        """
        return self._ranked(layer, _neuron_arg(neuron, alpha, "top_images"), n, top=True)

    def bottom_images(self, layer: str, neuron: int, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Dataset indices and signals of the images with the smallest (most negative) signal, smallest first.

        The other pole of the SVD neuron (a singular vector's sign is arbitrary): the top images of the
        negated signal, ties to the smaller dataset index.
        """
        return self._ranked(layer, neuron, n, top=False)

    # -- tables -------------------------------------------------------------------------------------
    def per_class(self, layer: str) -> pd.DataFrame:
        """Long table: one row per (class, SVD neuron) with mean, std, influence count and weight."""
        mean, std = self.class_mean(layer), self.class_std(layer)
        cnt, w = self.influence_counts(layer), self.influence_weights(layer)
        rows = []
        for c, name in enumerate(self.class_names):
            for a in range(mean.shape[1]):
                rows.append(
                    {
                        "class": name,
                        "neuron": a,
                        "sigma": self._sv[layer][a],
                        "mean": mean[c, a],
                        "std": std[c, a],
                        "influential_count": int(cnt[c, a]),
                        "influence_weight": w[c, a],
                    }
                )
        return pd.DataFrame(rows)

    def per_layer(self) -> pd.DataFrame:
        """One row per layer: rank, the most influential neuron overall and its share of images."""
        rows = []
        for layer in self.layers:
            cnt = self.influence_counts(layer).sum(0)
            top = int(np.argmax(cnt))
            rows.append(
                {
                    "layer": layer,
                    "rank": len(self._sv[layer]),
                    "top_neuron": top,
                    "top_neuron_share": float(cnt[top]) / max(self.n_images, 1),
                    "mean_influential_per_image": float(cnt.sum()) / max(self.n_images, 1),
                }
            )
        return pd.DataFrame(rows)

    # -- hypergraphs --------------------------------------------------------------------------------
    def _sets(
        self,
        layer: str,
        top_k: int | None,
        threshold: float | None,
        rank_by: str,
        top_n: int | None,
        center: bool = False,
    ) -> list[set[int]]:
        t = self.meta["threshold"] if threshold is None else threshold
        present = self.class_counts > 0
        means = np.nan_to_num(self.class_mean(layer))
        if center:  # what sets each class apart: its mean minus the mean over all images
            means = means - self.overall_mean(layer)[None, :]
        sets = class_neuron_sets(
            means, self._sv[layer], top_k=top_k, threshold=t, rank_by=rank_by, top_n=top_n
        )
        return [s if present[c] else set() for c, s in enumerate(sets)]

    def hypergraph(
        self,
        layers: Sequence[str] | str | None = None,
        top_k: int | None = 16,
        threshold: float | None = None,
        dual: bool = False,
        *,
        rank_by: str = "sigma",
        top_n: int | None = None,
        center: bool = False,
    ) -> ClassHypergraph:
        """Classes ↔ SVD neurons of the chosen layers (union across layers; edges named "layer:neuron").

        top_k: candidate neurons per layer (by σ, or by mean |signal| with rank_by="signal"; None = all);
        threshold: the influence rule's t (default: the profile's); top_n: instead of the rule, each class's
        n strongest candidates; center: use class means minus the overall mean (what sets a class apart)
        instead of the plain class means of PAPER §4.
        """
        names = self.layers if layers is None else ([layers] if isinstance(layers, str) else list(layers))
        sets = {n: self._sets(self._check_layer(n), top_k, threshold, rank_by, top_n, center) for n in names}
        weights = {n: np.nan_to_num(np.abs(self.class_mean(n))) for n in names}
        meta = {
            "layers": names,
            "top_k": top_k,
            "threshold": self.meta["threshold"] if threshold is None else threshold,
            "rank_by": rank_by,
            "center": center,
        }
        return build_hypergraph(sets, [c for c in self.class_names], weights, dual=dual, meta=meta)

    def _check_layer(self, layer: str) -> str:
        self._s(layer)
        return layer

    def separation(
        self,
        top_k: int | None = 16,
        threshold: float | None = None,
        *,
        rank_by: str = "sigma",
        top_n: int | None = None,
        center: bool = False,
    ) -> pd.DataFrame:
        """Per-layer class separation: mean hyperedge purity, mean pairwise Jaccard, s-components (s=1..3).

        Takes the same choices as `hypergraph`; classes without images are left out.
        """
        rows = []
        for i, layer in enumerate(self.layers):
            present = self.class_counts > 0
            sets = [
                s for s, p in zip(self._sets(layer, top_k, threshold, rank_by, top_n, center), present) if p
            ]
            rows.append({"layer": layer, "depth": i, **separation_figures(sets)})
        return pd.DataFrame(rows)

    # -- merging ------------------------------------------------------------------------------------
    @classmethod
    def merge(cls, *profiles: Profile | Iterable[Profile]) -> Profile:
        """The profile of the union of disjoint parts of one dataset (e.g. the shards of `shard=(r, n)`).

        Counts and top/bottom-n are exact, sums are added in float64. Refused, with a ProfileMergeError that
        says which: overlapping image indices, different layers, aggregation, threshold, calls, ignore_index,
        class names or weights (fingerprints). Profiles with other top_n keep the smallest.
        """
        items: list[Profile] = []
        for p in profiles:
            items.extend([p] if isinstance(p, Profile) else list(p))
        if not items or not all(isinstance(p, Profile) for p in items):
            raise ProfileMergeError("Profile.merge needs one or more Profile objects")
        out = items[0]
        for p in items[1:]:
            out = _merge_two(out, p)
        return out

    def __add__(self, other: Profile) -> Profile:
        if not isinstance(other, Profile):
            return NotImplemented
        return Profile.merge(self, other)

    def __radd__(self, other: Any) -> Profile:  # sum(profiles) starts from 0
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented

    # -- persistence ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the profile to one file, atomically; `.npz` is appended to the name (never replaced).

        Returns the path written. Nothing half-written survives a failure.
        """
        arrays: dict[str, np.ndarray] = {"index_ranges": self.index_ranges.astype(np.int64)}
        for i, layer in enumerate(self.layers):
            s = self._stats[layer]
            arrays[f"layers/{i}/singular_values"] = self._sv[layer]
            for f in CLASS_FIELDS + RANK_FIELDS:
                arrays[f"layers/{i}/{f}"] = getattr(s, f).numpy()
        meta = {
            **self.meta,
            "layers": self.layers,
            "class_names": self.class_names,
            "ranks": [self._stats[n].rank for n in self.layers],
        }
        return write_profile(path, arrays, meta)

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        """Read a file written by `save` (never unpickles; the format, layout and checksum are verified)."""
        arrays, meta = read_profile(path)
        layers, names = meta.pop("layers"), meta.pop("class_names")
        meta.pop("ranks")
        meta.pop("checksum")
        meta.pop("format")
        stats, sv = {}, {}
        for i, layer in enumerate(layers):
            fields = {
                f: torch.from_numpy(arrays[f"layers/{i}/{f}"].copy()) for f in CLASS_FIELDS + RANK_FIELDS
            }
            stats[layer] = LayerStats(**fields, n_classes=len(names))
            sv[layer] = arrays[f"layers/{i}/singular_values"]
        return cls(layers, names, stats, sv, meta, arrays["index_ranges"])

    # -- display ------------------------------------------------------------------------------------
    def _notes(self) -> str:
        notes = []
        if self.n_ignored:
            notes.append(f"{self.n_ignored} ignored")
        if not self.meta.get("complete", True):
            notes.append("partial: interrupted or failed")
        bad = sum(int(s.nonfinite.sum()) for s in self._stats.values())
        if bad:
            notes.append(f"{bad} NaN/Inf signals left out")
        return f" ({'; '.join(notes)})" if notes else ""

    def __repr__(self) -> str:
        return (
            f"Profile({self.meta.get('model', '')}: {self.n_images} images{self._notes()}, "
            f"{len(self.class_names)} classes, {len(self.layers)} layers)"
        )

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
            f"<div><b>Profile</b> of <code>{html.escape(str(self.meta.get('model', '')))}</code>: "
            f"{self.n_images} images{html.escape(self._notes())}, aggregation {self.meta['aggregation']}, "
            f"threshold {self.meta['threshold']}<br>classes: {classes}"
            "<table><thead><tr><th>layer</th><th>SVD neurons</th><th>most influential</th><th>share of "
            f"images</th><th>influential / image</th></tr></thead><tbody>{rows}</tbody></table></div>"
        )


def _neuron_arg(neuron: Any, alpha: Any, where: str) -> Any:
    if alpha is not None:
        if neuron is not None:
            raise InvalidArgumentError(
                f"{where}: give the SVD neuron once, as neuron= (alpha= is its old name)"
            )
        warnings.warn(
            f"{where}(alpha=...) is deprecated: the SVD-neuron index is called `neuron`",
            DDPWidgetsDeprecationWarning,
            stacklevel=3,
        )
        return alpha
    if neuron is None:
        raise InvalidArgumentError(f"{where}: give the SVD neuron index, e.g. {where}(layer, 0)")
    return neuron


def _implied(p: Profile) -> bool:
    return not p.meta.get("class_names_given", True) and p.class_names == [
        str(i) for i in range(len(p.class_names))
    ]


def _merged_names(a: Profile, b: Profile) -> list[str]:
    if a.class_names == b.class_names:
        return list(a.class_names)
    for empty, other in ((a, b), (b, a)):  # an empty shard saw no labels: it takes the other's classes
        if empty.n_images + empty.n_ignored == 0 and not empty.meta.get("class_names_given", True):
            return list(other.class_names)
    if _implied(a) and _implied(b):  # classes 0..max implied by integer labels: the larger axis holds both
        return list(max(a.class_names, b.class_names, key=len))
    raise ProfileMergeError(
        f"the profiles have different class names ({_short(a.class_names)} vs {_short(b.class_names)}): "
        f"profile every part with the same class_names=[...]"
    )


def _short(names: Sequence[str]) -> str:
    return "[" + ", ".join(map(repr, names[:4])) + (", …" if len(names) > 4 else "") + f"] ({len(names)})"


def _merge_two(a: Profile, b: Profile) -> Profile:
    if a.layers != b.layers:
        raise ProfileMergeError(
            f"the profiles cover different layers ({_short(a.layers)} vs {_short(b.layers)}): "
            f"profile every part with the same Profiler(layers=...)"
        )
    for key in MERGE_KEYS:
        if a.meta.get(key) != b.meta.get(key):
            raise ProfileMergeError(
                f"the profiles differ in {key} ({a.meta.get(key)!r} vs {b.meta.get(key)!r}): "
                f"profile every part with the same settings"
            )
    if a.fingerprint != b.fingerprint:
        raise ProfileMergeError(
            f"the profiles were computed with different model weights (fingerprints {a.fingerprint[:12]}… "
            f"and {b.fingerprint[:12]}…): profile every part with the same weights"
        )
    names = _merged_names(a, b)
    overlap = first_overlap(a.index_ranges, b.index_ranges)
    if overlap is not None:
        raise ProfileMergeError(
            f"the profiles overlap: both cover images {overlap[0]}..{overlap[1] - 1}; merge profiles of "
            "disjoint parts of the dataset (e.g. the shards of shard=(rank, world_size))"
        )
    for layer in a.layers:
        if not np.array_equal(a._sv[layer], b._sv[layer]):
            raise ProfileMergeError(
                f"layer {layer!r} has other singular values in the two profiles: different weights"
            )
    stats = {n: a._stats[n].merged(b._stats[n]) for n in a.layers}
    meta = dict(a.meta)
    meta.update(
        n_images=a.n_images + b.n_images,
        n_ignored=a.n_ignored + b.n_ignored,
        shard=None,
        top_n=min(int(a.meta["top_n"]), int(b.meta["top_n"])),
        complete=bool(a.meta.get("complete", True) and b.meta.get("complete", True)),
    )
    ranges = np.concatenate([a.index_ranges, b.index_ranges])
    return Profile(a.layers, names, stats, a._sv, meta, ranges)
