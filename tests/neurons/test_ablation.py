"""Rank-1 ablation: the identities of the issue, per-class tables worked out independently, and a model left
exactly as it was found (weights bit for bit, hooks, modes), after success and after an error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ddp_widgets as dw
from ddp_widgets import neurons
from ddp_widgets.core import DataError, InputShapeError, NotAModuleError, UnknownLayerError, decompose
from ddp_widgets.core.ablation import (
    BASELINE,
    ClassStats,
    ablated_weight,
    compare_weights,
    swapped_weights,
    truncated_weight,
)
from ddp_widgets.core.errors import NeuronIndexError, StaleDecompositionError

from .neuron_helpers import hook_count, identical, modes, weights


def _numpy_components(weight: torch.Tensor, groups: int) -> list[tuple[float, int, np.ndarray]]:
    """Independent float64 SVD per group: (σ, group, σ u vᵀ as the full (d, cols) matrix), descending σ."""
    w = weight.detach().double().numpy().reshape(weight.shape[0], -1)
    rows = w.shape[0] // groups
    out = []
    for g in range(groups):
        u, s, vt = np.linalg.svd(w[g * rows : (g + 1) * rows], full_matrices=False)
        for j in range(len(s)):
            full = np.zeros_like(w)
            full[g * rows : (g + 1) * rows] = s[j] * np.outer(u[:, j], vt[j])
            out.append((float(s[j]), g, full))
    return sorted(out, key=lambda t: -t[0])


CONVS = [
    {"in_channels": 3, "out_channels": 8, "kernel_size": 3, "padding": 1},
    {"in_channels": 4, "out_channels": 8, "kernel_size": 3, "padding": 1, "groups": 2},
    {"in_channels": 6, "out_channels": 6, "kernel_size": 3, "padding": 1, "groups": 6},
    {"in_channels": 2, "out_channels": 20, "kernel_size": 2},  # more filters than c·k·k: rank 8
]


@pytest.mark.parametrize("cfg", CONVS)
@pytest.mark.parametrize("alpha", [0, 1, -1])
def test_ablating_one_neuron_equals_the_reconstructed_weight(cfg, alpha):
    torch.manual_seed(1)
    conv = nn.Conv2d(**cfg)
    svd = decompose(conv, dtype=torch.float64)
    comps = _numpy_components(conv.weight, conv.groups)
    assert len(comps) == svd.rank
    expect = conv.weight.detach().double().numpy().reshape(conv.weight.shape[0], -1) - comps[alpha][2]
    got = ablated_weight(conv.weight, svd, [alpha])
    assert got.dtype == conv.weight.dtype and got.shape == conv.weight.shape
    np.testing.assert_allclose(got.double().numpy().reshape(expect.shape), expect, atol=1e-6)
    # the grouped block structure is kept: other groups' weights are untouched
    g = comps[alpha][1]
    rows = conv.out_channels // conv.groups
    others = [r for r in range(conv.out_channels) if not g * rows <= r < (g + 1) * rows]
    assert torch.equal(got[others], conv.weight.detach()[others])
    # and the model's output with the ablated weight equals a convolution computed with the expected weight
    x = torch.randn(2, cfg["in_channels"], 7, 7)
    with swapped_weights({conv.weight: got}):
        y = conv(x)
    w_expect = torch.from_numpy(expect).float().reshape(conv.weight.shape)
    ref = F.conv2d(x, w_expect, conv.bias, padding=conv.padding, groups=conv.groups)
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)


def test_ablating_several_neurons_of_a_linear_layer():
    torch.manual_seed(2)
    lin = nn.Linear(12, 7)
    svd = decompose(lin, dtype=torch.float64)
    comps = _numpy_components(lin.weight, 1)
    chosen = [0, 3, 5]
    expect = lin.weight.detach().double().numpy() - sum(comps[a][2] for a in chosen)
    np.testing.assert_allclose(ablated_weight(lin.weight, svd, chosen).double().numpy(), expect, atol=1e-6)
    # more than half removed: the kept components are summed, the same matrix to rounding
    many = [0, 1, 2, 4, 6]
    expect = sum(comps[a][2] for a in (3, 5))
    np.testing.assert_allclose(ablated_weight(lin.weight, svd, many).double().numpy(), expect, atol=1e-6)


def test_no_neuron_gives_the_model_itself(default_profiler, default_data):
    prof, d = default_profiler, default_data
    layer = "features.5"
    weight = prof.analysis.module(layer).weight
    assert torch.equal(ablated_weight(weight, prof.analysis.svd(layer), []), weight)
    x = d.images[:50]
    with torch.no_grad():
        ref = prof.model(x)
        with swapped_weights({weight: ablated_weight(weight, prof.analysis.svd(layer), [])}):
            same = prof.model(x)
    assert torch.equal(same, ref)
    df = neurons.ablate(prof, layer, [], x, d.labels[:50], progress=False)
    assert (df["delta_accuracy"] == 0).all() and (df["delta_true_logit"] == 0).all()


def test_every_neuron_of_a_linear_layer_leaves_the_bias_only(default_profiler, default_data):
    prof, d = default_profiler, default_data
    layer = "classifier.3"
    module = prof.analysis.module(layer)
    svd = prof.analysis.svd(layer)
    zero = ablated_weight(module.weight, svd, range(svd.rank))
    assert torch.equal(zero, torch.zeros_like(module.weight))
    with torch.no_grad(), swapped_weights({module.weight: zero}):
        logits = prof.model(d.images[:20])
    assert torch.equal(logits, module.bias.detach().expand(20, -1))
    df = neurons.ablate(prof, layer, list(range(svd.rank)), d.images, d.labels, progress=False)
    bias = module.bias.detach().double().numpy()
    np.testing.assert_allclose(df["true_logit_after"], bias, rtol=1e-12)
    predicted = int(np.argmax(bias))  # every image gets the class of the largest bias
    assert list(df["accuracy_after"]) == [1.0 if c == predicted else 0.0 for c in range(10)]


def test_per_class_table_matches_a_hand_computation(default_profiler, default_data):
    prof, d = default_profiler, default_data
    layer, alpha = "classifier.0", 1
    module, svd = prof.analysis.module(layer), prof.analysis.svd(layer)
    new = ablated_weight(module.weight, svd, [alpha])
    with torch.no_grad():
        before = prof.model(d.images)
        with swapped_weights({module.weight: new}):
            after = prof.model(d.images)
    df = neurons.ablate(
        prof, layer, alpha, d.images, d.labels, batch_size=37, class_names=d.class_names, progress=False
    )
    y = d.labels.numpy()
    for c in range(10):
        row = df.iloc[c]
        assert row["class"] == d.class_names[c] and row["n_images"] == 100
        sel = y == c
        assert row["accuracy_before"] == float((before.argmax(1).numpy()[sel] == c).mean())
        assert row["accuracy_after"] == float((after.argmax(1).numpy()[sel] == c).mean())
        assert row["true_logit_after"] == pytest.approx(float(after[sel, c].double().mean()), abs=1e-5)
        assert row["delta_true_logit"] == pytest.approx(
            row["true_logit_after"] - row["true_logit_before"], abs=1e-12
        )
    assert df.attrs["neurons"] == [alpha] and df.attrs["layer"] == layer
    assert df.attrs["accuracy_before"] == pytest.approx(float((before.argmax(1) == d.labels).double().mean()))


def test_batching_does_not_change_counts(default_profiler, default_data):
    d = default_data
    a = neurons.ablate(
        default_profiler, "features.7", [0, 2], d.images[:200], d.labels[:200], batch_size=13, progress=False
    )
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(d.images[:200], d.labels[:200]),
        batch_size=64,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    b = neurons.ablate(default_profiler, "features.7", [0, 2], loader, progress=False)
    assert (a["n_images"] == b["n_images"]).all()
    np.testing.assert_allclose(a["accuracy_after"], b["accuracy_after"], atol=0.011)  # one image may tie-flip
    np.testing.assert_allclose(a["true_logit_after"], b["true_logit_after"], atol=1e-4)


def test_keep_top_is_the_truncation(default_profiler, default_data):
    prof, d = default_profiler, default_data
    layer = "classifier.0"
    module, svd = prof.analysis.module(layer), prof.analysis.svd(layer)
    comps = _numpy_components(module.weight, 1)
    expect = sum(c[2] for c in comps[:5])
    np.testing.assert_allclose(truncated_weight(module.weight, svd, 5).double().numpy(), expect, atol=2e-5)
    assert torch.equal(truncated_weight(module.weight, svd, svd.rank), module.weight)
    df = neurons.ablate(prof, layer, keep_top=5, data=d.images[:100], labels=d.labels[:100], progress=False)
    assert df.attrs["neurons"] == list(range(5, svd.rank))


class RaisesOnCall(nn.Module):
    """Wraps a model; its call number `fail_at` (counting from 0) runs the model and then raises."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner, self.calls, self.fail_at = inner, 0, -1

    def forward(self, x):
        out = self.inner(x)
        self.calls += 1
        if self.calls - 1 == self.fail_at:
            raise RuntimeError("boom")
        return out


def test_model_restored_after_success_and_after_errors():
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Dropout(0.5), nn.Linear(4 * 4 * 4, 3)
    )
    model.train()
    x, y = torch.randn(12, 1, 6, 6), torch.arange(12) % 3
    saved, before = weights(model), modes(model)
    prof = dw.Profiler(model, example_input=x[:1])
    df = neurons.ablate(prof, "0", [0, 1], x, y, batch_size=5, progress=False)
    assert len(df) == 3 and identical(model, saved) and modes(model) == before and hook_count(model) == 0
    # the model raises in the ablated pass (the second call of the first batch), with the weight swapped in
    broken = RaisesOnCall(model)
    broken.train()
    prof_broken = dw.Profiler(broken, example_input=x[:1])
    broken.calls, broken.fail_at, seen = 0, 1, []
    handle = model[4].register_forward_pre_hook(
        lambda m, i: seen.append(torch.equal(m.weight, saved["4.weight"]))
    )
    with pytest.raises(InputShapeError, match="boom"):
        neurons.ablate(prof_broken, "inner.4", [0], x, y, progress=False)
    handle.remove()
    assert seen == [True, False]  # baseline with the original weight, then the ablated one, which raised
    assert identical(model, saved) and all(m.training for m in broken.modules()) and hook_count(broken) == 0

    # the data raises mid-way
    def bad_batches():
        yield x[:4], y[:4]
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        neurons.ablate(prof, "4", [1], bad_batches(), progress=False)
    assert identical(model, saved) and modes(model) == before and hook_count(model) == 0


def test_swapped_weights_restores_bit_for_bit_even_nan():
    p = nn.Parameter(torch.tensor([1.0, float("nan"), -0.0, 3e-45]))
    original = p.detach().clone()
    with pytest.raises(RuntimeError, match="inside"), swapped_weights({p: torch.zeros(4)}):
        assert torch.equal(p.detach(), torch.zeros(4))
        raise RuntimeError("inside")
    assert torch.equal(p.detach().view(torch.uint8), original.view(torch.uint8))
    with pytest.raises(ValueError, match="shape"), swapped_weights({p: torch.zeros(3)}):
        pass
    assert torch.equal(p.detach().view(torch.uint8), original.view(torch.uint8))


def test_class_stats_merge_and_compare_names():
    a, b = ClassStats(3), ClassStats(3)
    a.update(torch.tensor([[2.0, 0, 0], [0, 1.0, 3]]), torch.tensor([0, 1]))
    b.update(torch.tensor([[0.0, 5, 0]]), torch.tensor([1]))
    m = a.merge(b)
    assert list(m.count) == [1, 2, 0] and list(m.correct) == [1, 1, 0]
    np.testing.assert_allclose(m.mean_true_logit[:2], [2.0, 3.0])
    assert np.isnan(m.accuracy[2])
    with pytest.raises(ValueError, match="baseline"):
        compare_weights(nn.Linear(2, 2), [], {BASELINE: {}})


def test_clear_errors(default_profiler, default_data):
    d, prof = default_data, default_profiler
    with pytest.raises(NeuronIndexError, match="has 128 SVD neurons"):
        neurons.ablate(prof, "classifier.0", [128], d.images[:10], d.labels[:10], progress=False)
    with pytest.raises(NeuronIndexError, match="integers"):
        neurons.ablate(prof, "classifier.0", [1.5], d.images[:10], d.labels[:10], progress=False)
    with pytest.raises(ValueError, match="not both"):
        neurons.ablate(prof, "classifier.0", [1], d.images[:10], d.labels[:10], keep_top=3, progress=False)
    with pytest.raises(NeuronIndexError, match="keep_top must be"):
        neurons.ablate(
            prof, "classifier.0", keep_top=500, data=d.images[:10], labels=d.labels[:10], progress=False
        )
    with pytest.raises(UnknownLayerError, match="classifier.0"):
        neurons.ablate(prof, "classifier.O", [0], d.images[:10], d.labels[:10], progress=False)
    with pytest.raises(DataError, match="out of range"):
        neurons.ablate(prof, "classifier.0", [0], d.images[:10], d.labels[:10] + 10, progress=False)
    with pytest.raises(DataError, match="needs data"):
        neurons.ablate(prof, "classifier.0", [0], progress=False)
    with pytest.raises(DataError, match="class names"):
        neurons.ablate(
            prof, "classifier.0", [0], d.images[:10], d.labels[:10], class_names=["a", "b"], progress=False
        )
    with pytest.raises(NotAModuleError, match="Profiler"):
        neurons.ablate("model", "classifier.0", [0], d.images[:10], d.labels[:10])


def test_half_precision_weights_keep_their_dtype():
    torch.manual_seed(4)
    lin = nn.Linear(6, 4).half()
    svd = decompose(lin)
    new = ablated_weight(lin.weight, svd, [0])
    assert new.dtype == torch.float16
    expect = lin.weight.double() - svd.values[0].double() * torch.outer(
        svd.left_vector(0).double(), svd.right_vector(0).double()
    )
    torch.testing.assert_close(new.double(), expect.detach(), atol=2e-3, rtol=0)


def test_ablate_each_equals_single_ablations(default_profiler, default_data):
    d = default_data
    long = neurons.ablate_each(
        default_profiler,
        {"features.2": [0], "classifier.3": [1]},
        d.images[:300],
        d.labels[:300],
        progress=False,
    )
    assert list(long.groupby(["layer", "neuron"], sort=False).size().index) == [
        ("features.2", 0),
        ("classifier.3", 1),
    ]
    one = neurons.ablate(
        default_profiler, "classifier.3", [1], d.images[:300], d.labels[:300], progress=False
    )
    part = long[long["layer"] == "classifier.3"].reset_index(drop=True)
    assert (part["accuracy_after"] == one["accuracy_after"]).all()
    np.testing.assert_allclose(part["true_logit_after"], one["true_logit_after"], rtol=0, atol=1e-9)


def test_a_stale_decomposition_is_refused():
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    prof = dw.Profiler(model, example_input=torch.randn(1, 6))
    svd = prof.analysis.svd("0")
    _ = svd.U  # factorised now
    with torch.no_grad():
        model[0].weight.mul_(1.5).add_(0.1)  # "fine-tuned" after the SVD was cached
    with pytest.raises(StaleDecompositionError, match="weights changed"):
        ablated_weight(model[0].weight, svd, [0])
    # through the analysis, caches follow the weights: the ablation decomposes the current weight afresh
    fresh = prof.analysis.svd("0")
    assert fresh is not svd
    torch.testing.assert_close(
        fresh.reconstruct().to(model[0].weight.dtype), model[0].weight.detach(), rtol=1e-5, atol=1e-5
    )
    df = neurons.ablate(prof, "0", [1], torch.randn(4, 6), torch.tensor([0, 1, 2, 0]), progress=False)
    assert len(df) == 3


def test_unlabelled_data_is_refused_not_scored_as_class_0(default_profiler, default_data):
    x = default_data.images[:20]
    for data in (
        x,
        [x[:10], x[10:]],
        torch.utils.data.TensorDataset(x),
        torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=8),
    ):
        with pytest.raises(DataError, match="has none"):
            neurons.ablate(default_profiler, "classifier.3", [0], data, progress=False)


def test_string_labels_follow_the_model_s_logit_order(default_profiler, default_data):
    d = default_data
    names = np.array(d.class_names)[d.labels[:100].numpy()]
    with pytest.raises(DataError, match="logit order"):  # sorted names would not be the model's class order
        neurons.ablate(
            default_profiler, "classifier.3", np.array([0, 2]), d.images[:100], names, progress=False
        )
    with pytest.raises(DataError, match="'Hat'"):
        neurons.ablate(
            default_profiler,
            "classifier.3",
            [0],
            d.images[:2],
            ["Hat", "Bag"],
            class_names=d.class_names,
            progress=False,
        )
    by_name = neurons.ablate(
        default_profiler,
        "classifier.3",
        np.array([0, 2]),
        d.images[:100],
        names,
        class_names=d.class_names,
        progress=False,
    )
    by_index = neurons.ablate(
        default_profiler,
        "classifier.3",
        [0, 2],
        d.images[:100],
        d.labels[:100].numpy(),
        class_names=d.class_names,
        progress=False,
    )
    assert by_name.equals(by_index)


def test_data_forms_and_their_errors(default_profiler, default_data):
    d, prof = default_data, default_profiler
    x, y = d.images[:40], d.labels[:40]
    ref = neurons.ablate(prof, "classifier.3", [0], x, y, progress=False)
    dicts = [{"image": x[i : i + 16], "label": y[i : i + 16]} for i in range(0, 40, 16)]
    assert neurons.ablate(prof, "classifier.3", [0], dicts, progress=False).equals(ref)
    floats = neurons.ablate(prof, "classifier.3", [0], x.numpy(), y.double().numpy(), progress=False)
    assert floats.equals(ref)
    cases = [
        ({"data": x, "labels": y, "batch_size": 0}, "batch_size"),
        ({"data": x, "labels": y[:39]}, "one label per input"),
        ({"data": x, "labels": y + 0.5}, "non-integer"),
        ({"data": x, "labels": y - 1}, "non-negative"),
        ({"data": d.loader(), "labels": y}, "goes with a tensor"),
        ({"data": "images.npz"}, "cannot evaluate on a str"),
        ({"data": [{"pixels": x}]}, "'image'"),
        ({"data": [(x[:2], y[:3])]}, "2 inputs but 3 labels"),
    ]
    for kwargs, message in cases:
        with pytest.raises(DataError, match=message):
            neurons.ablate(prof, "classifier.3", [0], progress=False, **kwargs)
