"""Low-rank truncation: accuracy versus kept rank, checked against an independent rank-k computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ddp_widgets import neurons
from ddp_widgets.core.ablation import swapped_weights
from ddp_widgets.core.errors import NeuronIndexError


def test_truncation_curve(default_profiler, default_data):
    d, prof = default_data, default_profiler
    x, y = d.images[:300], d.labels[:300]
    df = neurons.truncation(
        prof,
        x,
        y,
        layers=["classifier.0", "features.2"],
        ranks={"classifier.0": [2, 16, 128]},
        progress=False,
    )
    assert list(df["layer"]) == ["classifier.0"] * 3 + ["features.2"] * 6  # default ranks 1, 2, 4, 8, 16, 32
    assert list(df[df["layer"] == "features.2"]["kept_rank"]) == [1, 2, 4, 8, 16, 32]
    full = df[df["kept_rank"] == df["rank"]]
    assert (full["accuracy"] == full["baseline_accuracy"]).all()
    np.testing.assert_allclose(full["energy_kept"], 1.0, rtol=1e-12)
    for _, part in df.groupby("layer"):
        assert np.all(np.diff(part["energy_kept"]) > 0)
    # rank 2 of classifier.0, computed independently with a float64 numpy SVD
    module = prof.analysis.module("classifier.0")
    u, s, vt = np.linalg.svd(module.weight.detach().double().numpy(), full_matrices=False)
    w2 = torch.from_numpy((u[:, :2] * s[:2]) @ vt[:2]).float()
    with torch.no_grad(), swapped_weights({module.weight: w2}):
        acc = float((prof.model(x).argmax(1) == y).double().mean())
    row = df[(df["layer"] == "classifier.0") & (df["kept_rank"] == 2)].iloc[0]
    assert row["accuracy"] == pytest.approx(
        acc, abs=1 / 300 + 1e-12
    )  # at most one image on a decision boundary
    assert row["delta_accuracy"] == pytest.approx(row["accuracy"] - row["baseline_accuracy"])
    assert row["energy_kept"] == pytest.approx(float((s[:2] ** 2).sum() / (s**2).sum()), rel=1e-5)


def test_truncation_errors(default_profiler, default_data):
    with pytest.raises(NeuronIndexError, match="out of range"):
        neurons.truncation(
            default_profiler,
            default_data.images[:10],
            default_data.labels[:10],
            layers=["features.0"],
            ranks=[20],
            progress=False,
        )
