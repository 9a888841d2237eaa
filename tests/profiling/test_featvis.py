"""Feature visualisation of SVD neurons (PAPER §5): the objective rises, the result beats noise and data,
and the model is left as it was found (hooks, modes, gradients), whatever happens."""

import numpy as np
import pytest
import torch
from torch import nn

from ddp_widgets import Profiler
from ddp_widgets.core import InputShapeError, UnknownLayerError
from ddp_widgets.core.errors import ArgumentTypeError, InvalidArgumentError, NeuronIndexError
from ddp_widgets.core.featvis import COLOR_SQRT_COVARIANCE, FeatureVisualization, TransformSpec
from ddp_widgets.core.profile import SignalSpec, capture_signals
from ddp_widgets.zoo import MEAN, STD, load_default_data, load_default_model

STEPS = 64
LAYER = "features.5"


@pytest.fixture(scope="module")
def default():
    model = load_default_model()
    prof = Profiler(model)
    data = load_default_data()
    return model, prof, data, prof.signals(data.images, layers=[LAYER])[LAYER]


@pytest.fixture(scope="module")
def vis(default):
    _, prof, _, _ = default
    return {a: prof.visualize(LAYER, a, steps=STEPS, mean=MEAN, std=STD) for a in (0, 1)}


class Bomb(nn.Module):
    """Identity until armed; then raises on the `after`-th call."""

    def __init__(self):
        super().__init__()
        self.after = None
        self.calls = 0

    def forward(self, x):
        if self.after is not None:
            self.calls += 1
            if self.calls >= self.after:
                raise RuntimeError("boom")
        return x


def tiny(channels=3, bomb_before=False, bomb_after=False, seed=0):
    torch.manual_seed(seed)
    layers = [nn.Conv2d(channels, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.5)]
    layers += [Bomb()] if bomb_before else []
    layers += [nn.Conv2d(8, 6, 3, padding=1), nn.ReLU()]
    layers += [Bomb()] if bomb_after else []
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3)]
    return nn.Sequential(*layers)


def hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def neuron_signal(prof, x, alpha, layer=LAYER):
    return prof.signals(x, layers=[layer])[layer][:, alpha]


# -- the optimisation works ---------------------------------------------------------------------------
def test_result_fields(vis):
    r = vis[0]
    assert isinstance(r, FeatureVisualization)
    assert (r.layer, r.neuron, r.alpha, r.steps) == (LAYER, 0, 0, STEPS)
    assert r.image.shape == (1, 28, 28) and r.image.dtype == torch.float32 and r.image.device.type == "cpu"
    assert float(r.image.min()) >= 0.0 and float(r.image.max()) <= 1.0
    assert r.input.shape == (1, 1, 28, 28)
    torch.testing.assert_close(r.input[0], (r.image - MEAN) / STD)  # the model's normalisation of the image
    assert isinstance(r.history, np.ndarray) and r.history.shape == (STEPS,) and np.isfinite(r.history).all()
    assert "features.5" in repr(r) and "neuron=0" in repr(r)


@pytest.mark.parametrize("alpha", [0, 1])
def test_objective_increases(vis, alpha):
    h = vis[alpha].history
    assert h[-10:].mean() > h[:10].mean()


@pytest.mark.parametrize("alpha", [0, 1])
def test_beats_noise_and_the_dataset_median(default, vis, alpha):
    _, prof, _, data_signals = default
    r = vis[alpha]
    s = float(neuron_signal(prof, r.input, alpha)[0])
    assert s == pytest.approx(r.signal, rel=1e-4, abs=1e-5)  # the reported signal is the model's response
    g = torch.Generator().manual_seed(1)
    noise = (torch.rand(32, 1, 28, 28, generator=g) - MEAN) / STD
    gauss = torch.randn(32, 1, 28, 28, generator=g)
    assert s > float(neuron_signal(prof, noise, alpha).max())
    assert s > float(neuron_signal(prof, gauss, alpha).max())
    assert s > float(data_signals[:, alpha].median())


def test_different_alpha_gives_a_different_image(vis):
    assert float((vis[0].image - vis[1].image).abs().mean()) > 0.05


def test_deterministic_for_a_seed(default, vis):
    _, prof, _, _ = default
    again = prof.visualize(LAYER, 0, steps=STEPS, mean=MEAN, std=STD)
    assert torch.equal(again.image, vis[0].image) and np.array_equal(again.history, vis[0].history)
    other = prof.visualize(LAYER, 0, steps=STEPS, mean=MEAN, std=STD, seed=1)
    assert not torch.equal(other.image, vis[0].image)


def test_linear_layer(default):
    _, prof, _, _ = default
    r = prof.visualize("classifier.0", 3, steps=32, mean=MEAN, std=STD)
    assert r.history[-5:].mean() > r.history[:5].mean()


# -- the model is left as it was ----------------------------------------------------------------------
def test_no_hooks_no_gradients_and_flags_kept(default):
    model, prof, _, _ = default
    flags = [p.requires_grad for p in model.parameters()]
    before = hook_count(model)
    prof.visualize("features.2", 0, steps=4, mean=MEAN, std=STD)
    assert hook_count(model) == before == 0
    assert all(p.grad is None for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert not model.training


def test_rgb_model_modes_frozen_layers_and_existing_grads():
    model = tiny(3)
    prof = Profiler(model, example_input=torch.zeros(1, 3, 16, 16))
    model[0].weight.requires_grad_(False)  # a frozen layer stays frozen
    marker = torch.full_like(model[4].bias, 7.0)
    model[4].bias.grad = marker.clone()  # a gradient the user had stays as it was
    model.train()
    flags = [p.requires_grad for p in model.parameters()]
    r = prof.visualize("4", 2, steps=24, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    assert r.image.shape == (3, 16, 16) and r.input.shape == (1, 3, 16, 16)
    m, s = torch.tensor([0.4, 0.5, 0.6])[:, None, None], torch.tensor([0.2, 0.25, 0.3])[:, None, None]
    torch.testing.assert_close(r.input[0], (r.image - m) / s)
    assert all(mod.training for mod in model.modules())  # modes restored (it ran in eval mode)
    assert [p.requires_grad for p in model.parameters()] == flags
    assert torch.equal(model[4].bias.grad, marker)
    assert all(p.grad is None for n, p in model.named_parameters() if n != "4.bias")
    assert hook_count(model) == 0


def test_size_other_than_the_probe():
    model = tiny(3)
    prof = Profiler(model, example_input=torch.zeros(1, 3, 16, 16))
    assert prof.visualize("0", 0, steps=3, size=(12, 20)).image.shape == (3, 12, 20)
    assert prof.visualize("0", 0, steps=3, size=10).image.shape == (3, 10, 10)


def test_cleanup_after_an_exception():
    model = tiny(1, bomb_before=True)
    prof = Profiler(model, example_input=torch.zeros(1, 1, 12, 12))
    model.train()
    model[4].after = 5  # fails in the middle of the optimisation
    with pytest.raises(RuntimeError, match="boom"):
        prof.visualize("5", 0, steps=20)
    assert hook_count(model) == 0
    assert all(mod.training for mod in model.modules())
    assert all(p.grad is None for p in model.parameters())
    model[4].after = None
    assert prof.visualize("5", 0, steps=3).history.shape == (3,)  # and it works again


def test_layers_after_the_target_are_not_run():
    model = tiny(1, bomb_after=True)
    prof = Profiler(model, example_input=torch.zeros(1, 1, 12, 12))
    model[6].after = 1  # would raise if the forward pass went past the visualised layer
    prof.visualize("4", 1, steps=3)
    assert model[6].calls == 0


def test_float64_model():
    model = tiny(1).double()
    prof = Profiler(model, example_input=torch.zeros(1, 1, 12, 12, dtype=torch.float64))
    r = prof.visualize("4", 0, steps=8)
    assert r.input.dtype == torch.float64 and r.history.dtype == np.float64


def test_capture_signals_keeps_the_graph_only_when_asked():
    conv = nn.Conv2d(1, 2, 3)
    spec = SignalSpec(torch.eye(2), conv.bias.detach(), False)
    x = torch.randn(1, 1, 5, 5, requires_grad=True)
    with capture_signals({"c": conv}, {"c": spec}) as out:
        conv(x)
    assert out["c"].grad_fn is None
    with capture_signals({"c": conv}, {"c": spec}, detach=False) as out:
        conv(x)
    (g,) = torch.autograd.grad(out["c"][0, 0], [x])
    assert g.abs().sum() > 0
    assert not conv._forward_hooks


def test_colour_matrix():
    m = COLOR_SQRT_COVARIANCE
    assert m.shape == (3, 3)
    assert float(m.norm(dim=0).max()) == pytest.approx(1.0)
    cov = m @ m.T  # natural-image colours are strongly correlated
    corr = cov / torch.sqrt(torch.outer(cov.diagonal(), cov.diagonal()))
    assert float(corr[0, 1]) > 0.8 and float(corr[1, 2]) > 0.8


# -- errors -------------------------------------------------------------------------------------------
def test_bad_arguments(default):
    _, prof, _, _ = default
    with pytest.raises(UnknownLayerError, match="no weighted layer named 'features.9'"):
        prof.visualize("features.9", 0, steps=2)
    with pytest.raises(NeuronIndexError, match="SVD neuron 64 out of range: layer 'features.5' has 64"):
        prof.visualize(LAYER, 64, steps=2)
    with pytest.raises(NeuronIndexError, match="SVD neuron -1 out of range"):
        prof.visualize(LAYER, -1, steps=2)
    with pytest.raises(ArgumentTypeError, match="alpha must be an integer"):
        prof.visualize(LAYER, 1.5, steps=2)
    for steps in (0, -3, 2.5):
        with pytest.raises(InvalidArgumentError, match="steps must be a positive integer"):
            prof.visualize(LAYER, 0, steps=steps)
    with pytest.raises(InvalidArgumentError, match="lr must be a positive number"):
        prof.visualize(LAYER, 0, steps=2, lr=0)
    with pytest.raises(InvalidArgumentError, match=r"mean needs one value or one per channel \(1\), got 3"):
        prof.visualize(LAYER, 0, steps=2, mean=(0.1, 0.2, 0.3))
    with pytest.raises(InvalidArgumentError, match="std must be positive"):
        prof.visualize(LAYER, 0, steps=2, std=0.0)
    with pytest.raises(InvalidArgumentError, match="size must be at least 2×2"):
        prof.visualize(LAYER, 0, steps=2, size=1)
    with pytest.raises(InvalidArgumentError, match="size must be an integer or a pair"):
        prof.visualize(LAYER, 0, steps=2, size="big")
    # the package's classes still are the built-in ones they replace, so `except ValueError` keeps working
    assert issubclass(InvalidArgumentError, ValueError) and issubclass(NeuronIndexError, IndexError)
    assert issubclass(ArgumentTypeError, TypeError)


def test_model_that_fails_on_the_image_size():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    prof = Profiler(model, example_input=torch.zeros(1, 1, 8, 8))
    assert prof.visualize("2", 0, steps=2).image.shape == (1, 8, 8)
    with pytest.raises(InputShapeError, match=r"the model failed on a \(1, 1, 10, 10\) image"):
        prof.visualize("2", 0, steps=2, size=10)
    assert hook_count(model) == 0


def test_model_without_image_input():
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))
    prof = Profiler(model, example_input=torch.zeros(1, 5))
    with pytest.raises(InputShapeError, match=r"needs a model that takes images \(batch, C, H, W\)"):
        prof.visualize("0", 0, steps=2)


def test_transforms_can_be_turned_off():
    from ddp_widgets.core.featvis import visualize_neuron

    model = tiny(1)
    prof = Profiler(model, example_input=torch.zeros(1, 1, 12, 12))
    off = TransformSpec(jitter=0, scale=(1.0, 1.0), degrees=0.0)
    r = visualize_neuron(
        model, model[4], prof._spec("4"), 0, layer="4", channels=1, size=12, steps=16, transforms=off
    )
    # without transforms, the last step's objective is the signal of the image before that step's update
    assert r.history[-1] == pytest.approx(float(neuron_signal(prof, r.input, 0, "4")[0]), rel=0.2)
    with pytest.raises(InvalidArgumentError, match="invalid transform ranges"):
        visualize_neuron(
            model,
            model[4],
            prof._spec("4"),
            0,
            channels=1,
            size=12,
            steps=2,
            transforms=TransformSpec(scale=(1.1, 1.0)),
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda():
    model = load_default_model("cuda")
    prof = Profiler(model)
    r = prof.visualize(LAYER, 1, steps=STEPS, mean=MEAN, std=STD)
    assert r.image.device.type == "cpu" and r.history[-10:].mean() > r.history[:10].mean()
    cpu = Profiler(load_default_model())  # the CUDA result means the same to the CPU model (TF32 aside)
    assert float(neuron_signal(cpu, r.input, 1)[0]) == pytest.approx(r.signal, rel=2e-2, abs=1e-3)
    assert all(p.grad is None for p in model.parameters()) and hook_count(model) == 0
