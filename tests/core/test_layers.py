"""list_layers: canonical names, forward order, call counts, layers listed with a reason, lazy modules,
and a probe pass that leaves no hook behind and restores modes and device."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.modules import module as torch_module

from ddp_widgets.core import InputShapeError, LayerNotDecomposableError, decompose, list_layers


class OutOfOrder(nn.Module):
    """Modules registered in an order different from the one forward() calls them in."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(8, 3)  # registered first, runs last
        self.body = nn.Conv2d(4, 8, 3)
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.unused = nn.Linear(5, 5)  # never called

    def forward(self, x):
        x = self.body(self.stem(x).relu())  # [n, 8, h-2, w-2]
        return self.head(x.mean((2, 3)))


def test_forward_order_differs_from_module_order():
    model = OutOfOrder()
    static = list_layers(model, probe_pass=False)
    assert static.names == ["head", "body", "stem", "unused"]  # module order
    assert all(i.order is None and i.calls == 0 for i in static)

    layers = list_layers(model, torch.zeros(2, 3, 10, 10))
    assert layers.names == ["stem", "body", "head", "unused"]  # forward order, never-called last
    assert [i.order for i in layers] == [0, 1, 2, None]
    assert [i.calls for i in layers] == [1, 1, 1, 0]
    stem, body, head, unused = layers
    assert stem.input_shape == (2, 3, 10, 10) and stem.output_shape == (2, 4, 10, 10)
    assert body.output_shape == (2, 8, 8, 8)
    assert head.input_shape == (2, 8) and head.output_shape == (2, 3)
    assert unused.input_shape is None and unused.decomposable


class CalledTwice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        x = self.conv(self.conv(x).relu())
        return self.fc(x.mean((2, 3)))


def test_a_module_called_twice_is_listed_once_with_two_calls():
    layers = list_layers(CalledTwice(), torch.zeros(1, 3, 6, 6))
    assert layers.names == ["conv", "fc"]
    assert layers.get("conv").calls == 2 and layers.get("fc").calls == 1
    assert layers.get("conv").input_shape == (1, 3, 6, 6)


def test_a_shared_module_has_one_canonical_name():
    conv = nn.Conv2d(2, 2, 1)
    model = nn.Sequential(conv, nn.ReLU(), conv)  # the same module under '0' and '2'
    layers = list_layers(model, torch.zeros(1, 2, 3, 3))
    assert layers.names == ["0"]
    assert layers.get("0").calls == 2


class WithUnsupported(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 6)
        self.bil = nn.Bilinear(6, 6, 4)
        self.fc = nn.Linear(4, 2)
        self.norm = nn.LayerNorm(4)  # 1-D parameters only: not a weighted layer

    def forward(self, idx):
        e = self.emb(idx)
        return self.fc(self.norm(self.bil(e, e)))


def test_unsupported_modules_with_matrix_parameters_are_listed_with_a_reason():
    layers = list_layers(WithUnsupported(), torch.tensor([1, 2, 3]))
    assert layers.names == ["emb", "bil", "fc"]  # forward order; LayerNorm is not listed
    emb, bil, fc = layers
    for info in (emb, bil):
        assert not info.decomposable
        assert "not a layer ddp-widgets decomposes" in info.reason and info.kind in info.reason
        assert info.calls == 1
    assert emb.weight_shape == (10, 6) and bil.weight_shape == (4, 6, 6)
    assert fc.decomposable and fc.reason is None
    assert layers.decomposable.names == ["fc"]
    with pytest.raises(LayerNotDecomposableError, match="cannot decompose a Embedding"):
        decompose(WithUnsupported().emb)


def test_conv_transpose_and_nd_convs_are_listed_with_their_attributes():
    model = nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1),
        nn.Unflatten(2, (2, 4)),
        nn.Conv2d(4, 6, 3, padding=1, groups=2, dilation=1),
        nn.ConvTranspose2d(6, 3, 2, stride=2),
        nn.Unflatten(1, (1, 3)),
        nn.Conv3d(1, 2, (1, 3, 3)),
    )
    layers = list_layers(model, torch.zeros(1, 2, 8))
    assert layers.names == ["0", "2", "3", "5"]
    assert [i.kind for i in layers] == ["Conv1d", "Conv2d", "ConvTranspose2d", "Conv3d"]
    conv2, convt = layers.get("2"), layers.get("3")
    assert conv2.groups == 2 and conv2.matrix_shape == (3, 2 * 9) and conv2.rank_bound == 2 * 3
    assert convt.transposed and convt.matrix_shape == (6, 3 * 4)  # rows = input channels
    assert convt.output_shape == (1, 3, 4, 8)
    assert layers.get("5").kernel_size == (1, 3, 3)


def test_lazy_modules():
    model = nn.Sequential(nn.LazyConv2d(4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    before = list_layers(model)  # no input can be inferred from an uninitialised first layer
    assert before.names == ["0", "3"]
    assert all(not i.decomposable and "lazy module not initialised" in i.reason for i in before)
    assert "example_input" in before.probe_error

    after = list_layers(model, torch.zeros(1, 3, 8, 8))  # the probe pass materialises them
    assert [i.kind for i in after] == ["Conv2d", "Linear"]
    assert [i.weight_shape for i in after] == [(4, 3, 3, 3), (2, 144)]
    assert all(i.decomposable and i.calls == 1 for i in after)
    assert decompose(model[3], values_only=True).shape == (2,)


def test_input_is_inferred_when_not_given():
    layers = list_layers(
        nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    )
    assert layers.probe_error is None
    assert layers.get("0").input_shape[:2] == (1, 3) and layers.get("3").calls == 1


# ----------------------------------------------------------------------------- hooks, modes, device


def _hook_counts(model: nn.Module) -> dict[str, tuple[int, int, int, int]]:
    return {
        name: (
            len(m._forward_hooks),
            len(m._forward_pre_hooks),
            len(m._backward_hooks),
            len(m._forward_hooks_with_kwargs),
        )
        for name, m in model.named_modules()
    }


def _global_hooks() -> tuple[int, int]:
    return len(torch_module._global_forward_hooks), len(torch_module._global_forward_pre_hooks)


class Raises(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.block = nn.Sequential(nn.BatchNorm2d(4), nn.Conv2d(4, 4, 1))
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = self.block(self.conv(x))
        raise RuntimeError("boom in forward")


class ModeRecorder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[bool] = []

    def forward(self, x):
        self.seen.append(self.training)
        return x


def _mixed_mode_model() -> nn.Module:
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        ModeRecorder(),
        nn.Sequential(nn.Dropout(0.5), nn.Conv2d(4, 2, 1)),
    )
    model.train()
    model[1].eval()  # mixed: the BatchNorm frozen, everything else training
    model[3][0].eval()
    return model


def test_hooks_are_removed_and_modes_restored_after_success():
    model = _mixed_mode_model()
    user_hook = model[0].register_forward_hook(lambda *a: None)  # the user's own hook must survive
    modes = {n: m.training for n, m in model.named_modules()}
    hooks, global_hooks = _hook_counts(model), _global_hooks()
    running_mean = model[1].running_mean.clone()
    list_layers(model, torch.randn(2, 3, 6, 6))
    assert model[2].seen == [False]  # the probe ran in eval mode ...
    assert {n: m.training for n, m in model.named_modules()} == modes  # ... and restored every mode
    assert _hook_counts(model) == hooks and _global_hooks() == global_hooks
    assert user_hook.id in model[0]._forward_hooks
    assert torch.equal(model[1].running_mean, running_mean)  # no state changed by the probe
    assert all(p.grad is None for p in model.parameters())


def test_hooks_are_removed_and_modes_restored_when_the_model_raises():
    model = Raises()
    model.train()
    model.block[0].eval()
    modes = {n: m.training for n, m in model.named_modules()}
    hooks, global_hooks = _hook_counts(model), _global_hooks()
    with pytest.raises(InputShapeError, match="boom in forward") as err:
        list_layers(model, torch.zeros(1, 3, 5, 5))
    assert isinstance(err.value.__cause__, RuntimeError)
    assert _hook_counts(model) == hooks and _global_hooks() == global_hooks
    assert {n: m.training for n, m in model.named_modules()} == modes
    # the inferred-input path swallows the failure (shapes stay empty) but must clean up the same way
    layers = list_layers(model)
    assert layers.probe_error and "boom in forward" in layers.probe_error
    assert all(i.calls == 0 for i in layers)
    assert _hook_counts(model) == hooks and {n: m.training for n, m in model.named_modules()} == modes


def test_device_is_left_as_it_was_and_the_input_follows_the_model():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    devices = {n: p.device for n, p in model.named_parameters()}
    x = torch.zeros(1, 3, 6, 6)
    list_layers(model, x)
    assert {n: p.device for n, p in model.named_parameters()} == devices
    assert x.device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_model_stays_on_cuda_and_a_cpu_input_is_moved():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 4 * 4, 2)).cuda()
    layers = list_layers(model, torch.zeros(1, 3, 6, 6))
    assert layers.get("2").calls == 1
    assert all(p.device.type == "cuda" for p in model.parameters())
    assert decompose(model[0], values_only=True).device.type == "cuda"
