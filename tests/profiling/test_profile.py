"""Dataset profiles: streaming equals in-memory, real-model separation, persistence and bad input."""

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from ddp_widgets import Profile, Profiler
from ddp_widgets.core import DataError, InputShapeError
from ddp_widgets.core.profile import influential
from ddp_widgets.zoo import load_default_data, load_default_model


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 5 * 5, 4),
    ).eval()
    x = torch.randn(50, 1, 14, 14)
    y = torch.arange(50) % 4
    return model, x, y


def test_streaming_equals_in_memory(tiny):
    model, x, y = tiny
    prof = Profiler(model)
    streamed = prof.profile(x, y, batch_size=7, top_n=5, threshold=0.2, progress=False)
    whole = prof.signals(x)
    for name in prof.layers:
        s = whole[name].double()
        for c in range(4):
            np.testing.assert_allclose(
                streamed.class_mean(name)[c], s[y == c].mean(0).numpy(), rtol=1e-5, atol=1e-6
            )
            np.testing.assert_allclose(
                streamed.class_std(name)[c], s[y == c].std(0, unbiased=False).numpy(), rtol=1e-4, atol=1e-5
            )
        mask, ddp_w, _w = influential(whole[name], 0.2)
        for c in range(4):
            assert (streamed.influence_counts(name)[c] == mask[y == c].sum(0).numpy()).all()
            np.testing.assert_allclose(
                streamed.influence_weights(name, "ddp")[c], ddp_w[y == c].sum(0).numpy(), rtol=1e-5
            )
        # top images of every neuron: the 5 largest signals over the whole dataset
        for a in range(s.shape[1]):
            idx, score = streamed.top_images(name, a)
            np.testing.assert_allclose(score, torch.topk(s[:, a], 5).values.numpy(), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(s[idx, a].numpy(), score, rtol=1e-5, atol=1e-6)


def test_memory_does_not_grow_with_the_dataset(tiny):
    model, x, y = tiny
    prof = Profiler(model)
    small = prof.profile(x[:20], y[:20], batch_size=5, progress=False)
    big = prof.profile(x.repeat(10, 1, 1, 1), y.repeat(10), batch_size=5, progress=False)
    for name in prof.layers:
        for key in ("sum", "sumsq", "infl_count", "top_score", "top_index", "bottom_score", "bottom_index"):
            assert getattr(small._stats[name], key).shape == getattr(big._stats[name], key).shape
    assert big.n_images == 500


def test_data_forms_agree(tiny):
    model, x, y = tiny
    prof = Profiler(model)
    ref = prof.profile(x, y, batch_size=10, progress=False)
    ds = torch.utils.data.TensorDataset(x, y)
    for data in (
        ds,
        torch.utils.data.DataLoader(ds, batch_size=9),
        [(x[i : i + 20], y[i : i + 20]) for i in range(0, 50, 20)],
    ):
        other = prof.profile(data, batch_size=10, progress=False)
        for name in prof.layers:
            np.testing.assert_allclose(other.class_mean(name), ref.class_mean(name), rtol=1e-5, atol=1e-6)
    unlabelled = prof.profile(x, progress=False)
    assert unlabelled.class_names == ["all"] and unlabelled.class_counts.tolist() == [50]
    named = prof.profile(x, ["cat" if v % 2 else "dog" for v in y.tolist()], progress=False)
    assert named.class_names == ["cat", "dog"] and named.class_counts.tolist() == [25, 25]


def test_save_and_load_roundtrip(tiny, tmp_path):
    model, x, y = tiny
    p = Profiler(model).profile(x, y, class_names=["a", "b", "c", "d"], progress=False)
    path = p.save(tmp_path / "prof")
    assert path == tmp_path / "prof.npz" and sorted(f.name for f in tmp_path.iterdir()) == ["prof.npz"]
    q = Profile.load(tmp_path / "prof")
    assert q.class_names == ["a", "b", "c", "d"] and q.layers == p.layers and q.n_images == 50
    for name in p.layers:
        np.testing.assert_array_equal(q.class_mean(name), p.class_mean(name))
        np.testing.assert_array_equal(q.top_images(name, 0)[0], p.top_images(name, 0)[0])
    assert q.hypergraph().edges == p.hypergraph().edges


def test_hypergraph_is_deterministic(tiny):
    """Regression (issue 8): two batch sizes gave weights differing in the 9th digit and `==` failed on AMD
    EPYC.

    A batched forward pass differs in the last bits between batch sizes: the same incidences, weights to rtol
    1e-5.
    """
    model, x, y = tiny
    a = Profiler(model).profile(x, y, progress=False).hypergraph(top_k=4, threshold=0.3)
    b = Profiler(model).profile(x, y, batch_size=13, progress=False).hypergraph(top_k=4, threshold=0.3)
    assert {e: set(m) for e, m in a.edges.items()} == {e: set(m) for e, m in b.edges.items()}
    for e, members in a.edges.items():
        for node, w in members.items():
            assert b.edges[e][node] == pytest.approx(w, rel=1e-5)


@pytest.fixture(scope="module")
def default_profile():
    torch.set_num_threads(1)
    data = load_default_data()
    return Profiler(load_default_model()).profile(
        data.images, data.labels, class_names=data.class_names, progress=False
    )


def test_default_model_later_layers_separate_classes(default_profile):
    sep = default_profile.separation().set_index("layer")
    first, last = sep.iloc[0], sep.iloc[-1]
    assert sep.index[0] == "features.0" and sep.index[-1] == "classifier.3"
    assert last["purity"] > first["purity"]
    assert last["jaccard"] < first["jaccard"]
    hg = default_profile.hypergraph(layers=["classifier.3"])
    assert set().union(*[set(m) for m in hg.edges.values()]) <= set(default_profile.class_names)
    H = hg.to_hypernetx()
    assert len(H.edges) == len([e for e, m in hg.edges.items() if m])


@pytest.mark.parametrize("arch", ["resnet18", "densenet121", "googlenet"])
def test_branching_models(arch):
    torch.manual_seed(0)
    kwargs = {"aux_logits": False, "init_weights": False} if arch == "googlenet" else {}
    model = torchvision.models.get_model(arch, weights=None, num_classes=3, **kwargs).eval()
    x = torch.randn(4, 3, 64, 64)
    prof = Profiler(model, example_input=x[:1])
    sig = prof.signals(x)
    assert set(sig) == set(prof.layers) and prof.layers[-1] in ("fc", "classifier")
    for name in prof.layers:
        assert sig[name].shape == (4, prof.analysis.svd(name).rank)
        assert torch.isfinite(sig[name]).all()
    profile = prof.profile(x, torch.tensor([0, 1, 2, 0]), progress=False)
    assert len(profile.separation()) == len(prof.layers)


def test_bad_labels_and_data(tiny):
    model, x, y = tiny
    prof = Profiler(model)
    with pytest.raises(DataError, match="49 entries but data has 50"):
        prof.profile(x, y[:49], progress=False)
    with pytest.raises(DataError, match="integer class"):
        prof.profile(x, y.float() + 0.5, progress=False)
    with pytest.raises(DataError, match="empty"):
        prof.profile(x[:0], y[:0], progress=False)
    with pytest.raises(DataError, match="empty"):
        prof.profile(torch.utils.data.TensorDataset(x[:0], y[:0]), progress=False)
    with pytest.raises(DataError, match="empty"):
        prof.profile([], progress=False)
    with pytest.raises(DataError, match="out of range"):
        prof.profile(x, y, class_names=["a", "b"], progress=False)
    with pytest.raises(InputShapeError, match=r"\(batch, 1, H, W\)"):  # no probe input: channels known
        prof.profile(torch.randn(8, 3, 14, 14), torch.zeros(8, dtype=torch.long), progress=False)
    probed = Profiler(model, example_input=x[:1])
    with pytest.raises(InputShapeError, match=r"\(batch, 1, 14, 14\)"):
        probed.profile(torch.randn(8, 3, 14, 14), torch.zeros(8, dtype=torch.long), progress=False)
    with pytest.raises(DataError, match="cannot profile a int"):
        prof.profile(3, progress=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_profile_on_cuda_equals_cpu(tiny):
    model, x, y = tiny
    cpu = Profiler(model).profile(x, y, batch_size=16, progress=False)
    import copy

    gpu_model = copy.deepcopy(model).to("cuda")
    gpu = Profiler(gpu_model).profile(
        x, y, batch_size=16, progress=False
    )  # inputs move to the model's device
    for name in cpu.layers:
        np.testing.assert_allclose(gpu.class_mean(name), cpu.class_mean(name), rtol=1e-4, atol=1e-5)
        assert (gpu.influence_counts(name) == cpu.influence_counts(name)).mean() > 0.99
