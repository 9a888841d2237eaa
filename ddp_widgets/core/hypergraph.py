"""Hypergraphs of class separation (PAPER §4), built from per-class mean SVD-neuron signals.

Hyperedges are SVD neurons "layer:neuron"; nodes are classes; a class belongs to the edge of (layer, neuron)
when that neuron is influential for the class's mean signal. The dual swaps the roles. hypernetx (which brings
pandas) is imported only inside `to_hypernetx`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import torch

from .errors import UnknownOptionError
from .profile import influential

RANKINGS = ("sigma", "signal")


def edge_name(layer: str, neuron: int) -> str:
    return f"{layer}:{neuron}"


def class_neuron_sets(
    class_means: np.ndarray,
    singular_values: np.ndarray,
    *,
    top_k: int | None = 16,
    threshold: float = 0.1,
    rank_by: str = "sigma",
    top_n: int | None = None,
) -> list[set[int]]:
    """For one layer: each class's influential SVD neurons among the candidates.

    Candidates: the top_k neurons by singular value (rank_by="sigma", the default) or by mean |class
    signal| (rank_by="signal"); all neurons when top_k is None. A class's set: the threshold rule on its
    mean signal restricted to the candidates, or its top_n candidates by |signal| when top_n is given.
    """
    if rank_by not in RANKINGS:
        raise UnknownOptionError(f"unknown rank_by {rank_by!r}: use 'sigma' or 'signal'")
    r = class_means.shape[1]
    k = r if top_k is None else max(1, min(top_k, r))
    if rank_by == "sigma":
        cand = np.argsort(-np.asarray(singular_values), kind="stable")[:k]
    else:
        cand = np.argsort(-np.abs(class_means).mean(axis=0), kind="stable")[:k]
    sub = np.abs(class_means[:, cand])
    sets = []
    if top_n is not None:
        for row in sub:
            sets.append({int(cand[j]) for j in np.argsort(-row, kind="stable")[:top_n]})
        return sets
    mask, _, _ = influential(torch.from_numpy(sub), threshold)
    for row in mask.numpy():
        sets.append({int(cand[j]) for j in np.flatnonzero(row)})
    return sets


@dataclass
class ClassHypergraph:
    """Incidence of classes and SVD neurons: `edges[edge][node] = weight`.

    Edge names are "layer:neuron" (or class names in the dual); `edge_info`/`node_info` say what each one is.
    """

    edges: dict[str, dict[str, float]]
    edge_info: dict[str, dict[str, Any]]
    node_info: dict[str, dict[str, Any]]
    dual: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def nodes(self) -> list[str]:
        return list(self.node_info)

    def s_components(self, s: int = 1) -> list[set[str]]:
        """Edges grouped into s-connected components (edges linked when they share ≥ s nodes)."""
        return s_components(self.edges, s)

    def to_hypernetx(self):
        """The hypergraph as a `hypernetx.Hypergraph` (incidence weights as the 'weight' property)."""
        try:
            import hypernetx as hnx
        except ImportError as exc:  # pragma: no cover - hypernetx is a dependency
            raise ImportError('hypergraphs need hypernetx: pip install "ddp-widgets"') from exc
        edges = {e: list(members) for e, members in self.edges.items() if members}
        return hnx.Hypergraph(edges)

    def to_hif(self) -> dict[str, Any]:
        """The Hypergraph Interchange Format (HIF) as a JSON-ready dict."""
        return {
            "network-type": "undirected",
            "metadata": {"dual": self.dual, **{k: v for k, v in self.meta.items() if _jsonable(v)}},
            "nodes": [{"node": n, "attrs": dict(info)} for n, info in self.node_info.items()],
            "edges": [{"edge": e, "attrs": dict(self.edge_info.get(e, {}))} for e in self.edges],
            "incidences": [
                {"edge": e, "node": n, "weight": float(w)}
                for e, members in self.edges.items()
                for n, w in members.items()
            ],
        }

    def dualize(self) -> ClassHypergraph:
        edges: dict[str, dict[str, float]] = {n: {} for n in self.node_info}
        for e, members in self.edges.items():
            for n, w in members.items():
                edges[n][e] = w
        return ClassHypergraph(
            edges, dict(self.node_info), dict(self.edge_info), not self.dual, dict(self.meta)
        )

    def __repr__(self) -> str:
        kind = "dual " if self.dual else ""
        return f"ClassHypergraph({kind}{len(self.edges)} edges, {len(self.node_info)} nodes)"

    def _repr_html_(self) -> str:
        from html import escape

        what = ("class", "SVD neurons") if self.dual else ("SVD neuron", "classes")
        rows = "".join(
            f"<tr><td><code>{escape(e)}</code></td><td>{len(m)}</td>"
            f"<td>{escape(', '.join(sorted(m))[:120])}</td></tr>"
            for e, m in list(self.edges.items())[:15]
        )
        more = f"<tr><td colspan=3>… {len(self.edges) - 15} more</td></tr>" if len(self.edges) > 15 else ""
        comps = len(self.s_components(1))
        return (
            f"<div><b>ClassHypergraph</b>{' (dual)' if self.dual else ''}: {len(self.edges)} hyperedges, "
            f"{len(self.node_info)} nodes, {comps} connected component(s)"
            f"<table><thead><tr><th>hyperedge ({what[0]})</th><th>size</th><th>{what[1]}</th></tr></thead>"
            f"<tbody>{rows}{more}</tbody></table></div>"
        )


def _jsonable(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool, list, dict, type(None)))


def build_hypergraph(
    layer_sets: dict[str, list[set[int]]],
    class_names: Sequence[str],
    weights: dict[str, np.ndarray] | None = None,
    *,
    dual: bool = False,
    meta: dict[str, Any] | None = None,
) -> ClassHypergraph:
    """Union over layers of the class ↔ neuron incidences. weights[layer][class, neuron] gives incidence
    weights."""
    edges: dict[str, dict[str, float]] = {}
    edge_info: dict[str, dict[str, Any]] = {}
    for layer, sets in layer_sets.items():
        neurons = sorted(set().union(*sets)) if sets else []
        for a in neurons:
            name = edge_name(layer, a)
            edges[name] = {}
            edge_info[name] = {"layer": layer, "neuron": int(a), "alpha": int(a)}  # alpha: deprecated alias
            for c, members in enumerate(sets):
                if a in members:
                    w = float(weights[layer][c, a]) if weights is not None else 1.0
                    edges[name][class_names[c]] = w
    node_info = {name: {"class_index": i} for i, name in enumerate(class_names)}
    hg = ClassHypergraph(edges, edge_info, node_info, False, dict(meta or {}))
    return hg.dualize() if dual else hg


def s_components(edges: Mapping[str, Mapping[str, float] | set[str]], s: int = 1) -> list[set[str]]:
    """Connected components of edges, two edges adjacent when they share at least s nodes (union-find)."""
    names = list(edges)  # every edge, isolated ones as their own component (as hypernetx counts them)
    parent = {e: e for e in names}

    def find(e: str) -> str:
        while parent[e] != e:
            parent[e] = parent[parent[e]]
            e = parent[e]
        return e

    members = {e: set(edges[e]) for e in names}
    for a, b in combinations(names, 2):
        if len(members[a] & members[b]) >= s:
            parent[find(a)] = find(b)
    groups: dict[str, set[str]] = {}
    for e in names:
        groups.setdefault(find(e), set()).add(e)
    return sorted(groups.values(), key=lambda g: (-len(g), sorted(g)))


def separation_figures(sets: list[set[int]], s_values: Sequence[int] = (1, 2, 3)) -> dict[str, float]:
    """Class-separation figures of one layer from its class neuron sets.

    purity: mean over hyperedges of 1 / (number of classes in the edge) — 1 when every neuron serves one
    class, 1/C when all classes share it; jaccard: mean pairwise Jaccard overlap of the classes' neuron
    sets — 0 for disjoint sets, 1 for identical ones; components_s: number of s-connected components.
    """
    edges: dict[str, set[str]] = {}
    for c, members in enumerate(sets):
        for a in members:
            edges.setdefault(str(a), set()).add(str(c))
    purity = float(np.mean([1.0 / len(m) for m in edges.values()])) if edges else float("nan")
    pairs = [(a, b) for a, b in combinations(sets, 2)]
    jac = [len(a & b) / len(a | b) if (a | b) else 0.0 for a, b in pairs]
    out = {
        "purity": purity,
        "jaccard": float(np.mean(jac)) if jac else float("nan"),
        "num_edges": len(edges),
        "mean_edge_size": float(np.mean([len(m) for m in edges.values()])) if edges else float("nan"),
    }
    for s in s_values:
        out[f"components_s{s}"] = len(s_components(edges, s))
    return out
