"""SVD-neuron signals: the projection identity, aggregation, batching and hook hygiene."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ddp_widgets import Profiler
from ddp_widgets.core import InputShapeError, LayerNotDecomposableError, UnknownLayerError


def _sigma_vt_unfold(conv: nn.Conv2d, svd, x: torch.Tensor) -> torch.Tensor:
    """Σ Vᵀ unfold(x), per group, in the global descending-σ order: (B, R, positions)."""
    g = conv.groups
    cols = F.unfold(x, conv.kernel_size, dilation=conv.dilation, padding=conv.padding, stride=conv.stride)
    b, _, p = cols.shape
    cols = cols.reshape(b, g, -1, p)  # the unfold column order is (channel, kh, kw): groups are contiguous
    out = []
    for a in range(svd.rank):
        grp, j = int(svd.group_of[a]), int(svd.index_in_group[a])
        out.append(svd._block_values[grp, j] * torch.einsum("k,bkp->bp", svd.Vh[grp, j], cols[:, grp]))
    return torch.stack(out, 1)


CONV_CONFIGS = [
    {"in_channels": 3, "out_channels": 8, "kernel_size": 3, "padding": 1},
    {"in_channels": 4, "out_channels": 6, "kernel_size": (3, 2), "stride": 2, "padding": (1, 0)},
    {"in_channels": 4, "out_channels": 8, "kernel_size": 3, "dilation": 2, "padding": 2, "groups": 2},
    {"in_channels": 6, "out_channels": 6, "kernel_size": 3, "padding": 1, "groups": 6, "bias": True},
    {"in_channels": 2, "out_channels": 20, "kernel_size": 2, "stride": 1},  # more filters than c·k·k
]


@pytest.mark.parametrize("cfg", CONV_CONFIGS)
def test_projection_identity_conv(cfg):
    torch.manual_seed(0)
    conv = nn.Conv2d(**cfg).double()
    model = nn.Sequential(conv, nn.ReLU())
    x = torch.randn(3, cfg["in_channels"], 9, 10, dtype=torch.float64)
    prof = Profiler(model, example_input=x[:1])
    proj = prof.projections(x, "0")  # Uᵀ(Y − b): (B, R, H', W')
    expected = _sigma_vt_unfold(conv, prof.analysis.svd("0"), x)
    assert proj.shape[:2] == (3, prof.analysis.svd("0").rank)
    torch.testing.assert_close(proj.reshape(3, proj.shape[1], -1), expected, rtol=1e-9, atol=1e-9)


def test_projection_identity_linear():
    torch.manual_seed(1)
    lin = nn.Linear(12, 5).double()
    x = torch.randn(4, 12, dtype=torch.float64)
    prof = Profiler(nn.Sequential(lin), example_input=x[:1])
    svd = prof.analysis.svd("0")
    proj = prof.projections(x, "0")
    expected = torch.diag(svd.values) @ torch.stack([svd.right_vector(a) for a in range(svd.rank)]) @ x.T
    torch.testing.assert_close(proj, expected.T, rtol=1e-9, atol=1e-9)
    # the aggregated signal of a Linear layer on (B, d) is the projection itself
    torch.testing.assert_close(prof.signals(x)["0"], proj)


def test_aggregations_match_the_full_map():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(3, 5, 3), nn.ReLU(), nn.Conv2d(5, 4, 3))
    x = torch.randn(6, 3, 12, 12)
    prof = Profiler(model)
    full = prof.projections(x, "2").flatten(2)
    sig = {how: prof.signals(x, how)["2"] for how in ("mean", "max", "min")}
    torch.testing.assert_close(sig["mean"], full.mean(-1), rtol=1e-5, atol=1e-5)  # mean-first == mean of map
    torch.testing.assert_close(sig["max"], full.amax(-1))
    torch.testing.assert_close(sig["min"], full.amin(-1))


def test_batched_signals_equal_a_per_image_loop():
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 7 * 7, 5)
    )
    x = torch.randn(7, 1, 14, 14)
    prof = Profiler(model)
    for how in ("mean", "max"):
        batched = prof.signals(x, how)
        for i in range(x.shape[0]):
            single = prof.signals(x[i : i + 1], how)
            for name in prof.layers:
                torch.testing.assert_close(batched[name][i : i + 1], single[name], rtol=1e-5, atol=1e-6)


def _hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


class Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


def test_hooks_removed_after_success_and_failure():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    prof = Profiler(model)
    before = _hook_count(model)
    prof.signals(torch.randn(2, 1, 8, 8))
    assert _hook_count(model) == before
    with pytest.raises(InputShapeError):
        prof.signals(torch.randn(2, 2, 8, 8))
    assert _hook_count(model) == before
    model.train()
    broken = nn.Sequential(nn.Conv2d(1, 4, 3), Boom())
    p2 = Profiler(broken, example_input=None)
    with pytest.raises(RuntimeError, match="boom") as err:  # the model's own error, never relabelled
        p2.signals(torch.randn(1, 1, 8, 8))
    assert not isinstance(err.value, InputShapeError)
    assert _hook_count(broken) == 0
    assert model.training  # modes restored


def test_wrong_input_shape_names_expected_shape():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    prof = Profiler(model, example_input=torch.zeros(1, 3, 8, 8))
    with pytest.raises(InputShapeError, match=r"\(batch, 3, 8, 8\)"):
        prof.signals(torch.randn(2, 1, 8, 8))


def test_unknown_and_unprofilable_layers():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ConvTranspose2d(4, 2, 3), nn.Flatten())
    with pytest.raises(UnknownLayerError, match="list_layers"):
        Profiler(model, layers=["nope"])
    with pytest.raises(LayerNotDecomposableError, match="cannot be profiled"):
        Profiler(model, layers=["1"])
    emb = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2))
    with pytest.raises(LayerNotDecomposableError, match="cannot be profiled"):
        Profiler(emb, layers=["0"])
    # the default skips transposed convolutions
    assert Profiler(model).layers == ["0"]


def test_influential_per_input_matches_rule():
    model = nn.Sequential(nn.Linear(4, 4, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(4))
    prof = Profiler(model, example_input=torch.zeros(1, 4))
    # identity layer: signals are the input in U's basis; |signal| = |x| up to order and sign
    out = prof.influential(torch.tensor([[10.0, 1.0, 1.0, 1.0]]), "0", threshold=0.1)
    assert len(out[0]) == 1 and list(out[0].values()) == [pytest.approx(10 / 13)]
