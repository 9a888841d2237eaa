"""SpectralAnalysis on small hand-built models: the metrics table, normalisations, baselines, the three
views, laziness (metrics never form U or V) and caching."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from ddp_widgets import SpectralAnalysis
from ddp_widgets.core import decompose, operator_singular_values

REQUIRED_COLUMNS = [
    "layer", "kind", "shape", "N", "M", "Q", "rank", "sv_max", "spectral_norm", "stable_rank", "log_norm",
    "log_spectral_norm", "alpha", "alpha_weighted", "xmin", "ks_distance", "mp_sigma2", "mp_lambda_plus",
    "num_spikes",
]  # fmt: skip


class Net(nn.Module):
    """Registered out of forward order, with a grouped conv, a 1-D conv path and a big-ish Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 400)
        self.grouped = nn.Conv2d(16, 32, 3, padding=1, groups=4)
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.out = nn.Linear(400, 10)

    def forward(self, x):  # [n, 3, 8, 8]
        x = self.grouped(self.stem(x).relu()).relu()  # [n, 32, 8, 8]
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)  # [n, 32]
        return self.out(self.fc(torch.cat([x, x], 1)).relu())


@pytest.fixture
def net() -> Net:
    torch.manual_seed(0)
    return Net()


@pytest.fixture
def sa(net) -> SpectralAnalysis:
    return SpectralAnalysis(net, example_input=torch.zeros(1, 3, 8, 8), progress=False)


def test_metrics_columns_rows_and_values(sa, net):
    df = sa.metrics()
    assert isinstance(df, pd.DataFrame)
    assert set(REQUIRED_COLUMNS) <= set(df.columns)
    assert list(df.columns[:3]) == ["layer", "kind", "shape"]
    assert df["layer"].tolist() == ["stem", "grouped", "fc", "out"]  # forward order, not module order
    assert df["kind"].tolist() == ["Conv2d", "Conv2d", "Linear", "Linear"]
    assert df["shape"].tolist() == ["16×3×3×3", "32×4×3×3", "400×64", "10×400"]
    row = df.set_index("layer")
    # grouped: 4 blocks of 8 × 36; N, M, Q are of one block, rank counts all groups
    assert (row.loc["grouped", "N"], row.loc["grouped", "M"], row.loc["grouped", "groups"]) == (36, 8, 4)
    assert row.loc["grouped", "Q"] == pytest.approx(4.5) and row.loc["grouped", "rank"] == 32
    assert (row.loc["fc", "N"], row.loc["fc", "M"]) == (400, 64)
    for name in df["layer"]:
        s = decompose(dict(net.named_modules())[name], values_only=True).double().numpy()
        r = row.loc[name]
        N = r["N"]
        assert r["sv_max"] == pytest.approx(s[0], rel=1e-6)
        assert r["spectral_norm"] == pytest.approx(s[0] ** 2 / N, rel=1e-6)  # λ_max (WeightWatcher's name)
        assert r["stable_rank"] == pytest.approx(np.sum(s**2) / s[0] ** 2, rel=1e-6)
        assert r["log_norm"] == pytest.approx(math.log10(np.sum(s**2) / N), rel=1e-6)
        assert r["log_spectral_norm"] == pytest.approx(math.log10(s[0] ** 2 / N), rel=1e-6)
        assert r["alpha_weighted"] == pytest.approx(r["alpha"] * math.log10(s[0] ** 2 / N), rel=1e-9)
        assert r["mp_lambda_plus"] == pytest.approx(r["mp_sigma2"] * (1 + 1 / math.sqrt(r["Q"])) ** 2)
    assert math.isfinite(sa.alpha_hat())


def test_ddp_normalisation_divides_by_rows(net):
    x = torch.zeros(1, 3, 8, 8)
    mm = SpectralAnalysis(net, x, progress=False)
    ddp = SpectralAnalysis(net, x, normalization="ddp", progress=False)
    for name, rows in [("stem", 16), ("grouped", 8), ("fc", 400), ("out", 10)]:
        a, b = mm.spectrum(name), ddp.spectrum(name)
        assert (a.norm_by, b.norm_by) == (a.N, rows)
        np.testing.assert_allclose(b.eigenvalues, a.eigenvalues * a.N / rows, rtol=1e-12)
        # the fits follow the units: σ² and λ₊ scale, spike counts and α do not
        assert b.mp.sigma2 == pytest.approx(a.mp.sigma2 * a.N / rows)
        assert b.mp.lambda_plus == pytest.approx(a.mp.lambda_plus * a.N / rows)
        assert b.mp.num_spikes == a.mp.num_spikes
        assert b.power_law.alpha == pytest.approx(a.power_law.alpha)
        assert b.power_law.xmin == pytest.approx(a.power_law.xmin * a.N / rows)


def test_metrics_never_form_u_or_v(sa, monkeypatch):
    calls = []
    real = torch.linalg.svd
    monkeypatch.setattr(torch.linalg, "svd", lambda *a, **k: calls.append(1) or real(*a, **k))
    sa.metrics()
    sa.compare("permuted")
    sa.spectrum("grouped", view="slices")
    assert calls == []
    assert sa.computed["svd"] == 0
    svd = sa.svd("grouped")  # vectors on request only, then cached
    assert not svd.has_vectors and calls == []
    _ = svd.singular_filter(0)
    assert svd.has_vectors and len(calls) == 1
    assert sa.svd("grouped") is svd and len(calls) == 1
    assert svd.singular_filter(0).shape == (4, 3, 3)  # (c/g, k, k)


def test_results_are_cached(sa, monkeypatch):
    first = sa.metrics()
    calls = []
    real = torch.linalg.svdvals
    monkeypatch.setattr(torch.linalg, "svdvals", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = sa.metrics()
    pd.testing.assert_frame_equal(first, again)
    assert sa.spectrum("fc") is sa.spectrum("fc")
    assert calls == []


def test_compare_random_init_reinitialises_each_layer(net):
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(10.0)  # "trained" weights: 100× the default variance
    sa = SpectralAnalysis(net, torch.zeros(1, 3, 8, 8), progress=False)
    df = sa.compare("random-init").set_index("layer")
    assert df.index.tolist() == ["stem", "grouped", "fc", "out"]
    for col in ("alpha_baseline", "num_spikes_baseline", "stable_rank_baseline", "mp_sigma2_baseline"):
        assert df[col].notna().all()
    # PyTorch's default init of a Linear is U(-1/√in, 1/√in): entry variance 1/(3·in)
    assert df.loc["fc", "mp_sigma2_baseline"] == pytest.approx(1 / (3 * 64), rel=0.1)
    ratio = df["mp_sigma2"] / df["mp_sigma2_baseline"]
    assert ((ratio > 50) & (ratio < 200)).all()
    # the model itself was not re-initialised
    assert sa.metrics().set_index("layer").loc["fc", "mp_sigma2"] == pytest.approx(100 / (3 * 64), rel=0.1)
    # a reference model of the same architecture is a baseline too
    torch.manual_seed(1)
    ref = sa.compare(Net()).set_index("layer")
    assert ref.loc["fc", "mp_sigma2_baseline"] == pytest.approx(1 / (3 * 64), rel=0.1)


def test_compare_permuted_keeps_the_entries(sa, net):
    df = sa.compare("permuted")
    assert {"more_spikes", "heavier_tail", "differs"} <= set(df.columns)
    for name, module in net.named_modules():
        if name in sa.names:
            trained = sa.spectrum(name)
            permuted = sa.spectrum(name, baseline="permuted")
            # a permutation keeps the Frobenius norm (Σσ²) but not the spectrum
            assert np.sum(permuted.singular_values**2) == pytest.approx(
                np.sum(trained.singular_values**2), rel=1e-5
            )
            assert not np.allclose(permuted.singular_values, trained.singular_values)
    # deterministic for a seed, different for another
    a = sa.spectrum("fc", baseline="permuted", seed=0).singular_values
    b = (
        SpectralAnalysis(net, torch.zeros(1, 3, 8, 8), progress=False)
        .spectrum("fc", baseline="permuted", seed=0)
        .singular_values
    )
    c = sa.spectrum("fc", baseline="permuted", seed=1).singular_values
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_slices_view_pools_the_kernel_slices(sa, net):
    spec = sa.spectrum("stem", view="slices")
    w = net.stem.weight.detach()
    ref = np.sort(
        np.concatenate(
            [
                np.linalg.svd(w[:, :, i, j].double().numpy(), compute_uv=False)
                for i in range(3)
                for j in range(3)
            ]
        )
    )[::-1]
    np.testing.assert_allclose(spec.singular_values, ref, rtol=1e-5)
    assert (spec.N, spec.M) == (16, 3)
    grouped = sa.spectrum("grouped", view="slices")  # per group: 9 slices × 4 groups of 8 × 4
    assert grouped.singular_values.shape == (9 * 4 * 4,) and (grouped.N, grouped.M) == (8, 4)


def test_operator_view_uses_the_probed_input_size(sa, net):
    spec = sa.spectrum("grouped", view="operator")
    ref = operator_singular_values(net.grouped, (8, 8)).values  # 8×8 input seen by the probe pass
    np.testing.assert_allclose(spec.singular_values, ref, rtol=1e-6)
    assert spec.singular_values.shape == (4 * 64 * 4,)  # groups · positions · min(8, 4)
    assert not spec.exact and "approximation" in spec.note and "zeros padding" in spec.note
    small = sa.spectrum("grouped", view="operator", input_size=4)
    assert small.singular_values.shape == (4 * 16 * 4,)
    lin = sa.spectrum("fc", view="operator")  # a Linear layer has one view
    np.testing.assert_allclose(lin.singular_values, sa.spectrum("fc").singular_values)


def test_operator_view_is_exact_for_circular_stride_one():
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), nn.Flatten(), nn.Linear(3 * 25, 2)
    )
    sa = SpectralAnalysis(model, torch.zeros(1, 2, 5, 5), progress=False)
    spec = sa.spectrum("0", view="operator")
    assert spec.exact and spec.note.startswith("exact")
    from ddp_widgets.core.operator import dense_operator_matrix

    dense = dense_operator_matrix(model[0].double(), (5, 5))
    np.testing.assert_allclose(spec.singular_values, torch.linalg.svdvals(dense).numpy(), atol=1e-5)


def test_operator_view_without_an_input_size_says_how_to_get_one():
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Linear(7, 2))  # no input can be inferred
    sa = SpectralAnalysis(model, progress=False)
    assert sa.layers.probe_error
    with pytest.raises(
        ValueError, match=r"needs the layer's input size: pass input_size=\.\.\. or .*example_input"
    ):
        sa.spectrum("0", view="operator")
    assert sa.spectrum("0", view="operator", input_size=6).singular_values.shape == (36 * 2,)


def test_html_repr_and_repr(sa):
    sa.metrics()
    text = sa._repr_html_()
    assert "<table>" in text and "<code>grouped</code>" in text and "4 analysed" in text
    assert "4 weighted layers" in repr(sa)
    assert "<code>stem</code>" in sa.layers._repr_html_()


def test_conv_transpose_layers_are_analysed():
    model = nn.Sequential(nn.ConvTranspose2d(8, 4, 2, stride=2), nn.Conv2d(4, 2, 3))
    sa = SpectralAnalysis(model, torch.zeros(1, 8, 4, 4), progress=False)
    row = sa.metrics().set_index("layer").loc["0"]
    assert (row["N"], row["M"]) == (16, 8)  # rows = 8 input channels, cols = 4·2·2
    np.testing.assert_allclose(sa.values("0").numpy(), decompose(model[0], values_only=True).numpy())
    assert "transposed" in sa.spectrum("0", view="operator").note
