"""Bad input gives a clear error that says what to do, checked by message."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ddp_widgets import SpectralAnalysis
from ddp_widgets.core import (
    DDPWidgetsError,
    InputShapeError,
    LayerNotDecomposableError,
    MetaDeviceError,
    NeuronIndexError,
    NonFiniteWeightsError,
    NotAModuleError,
    NoWeightedLayersError,
    UnknownLayerError,
    UnknownOptionError,
    decompose,
    get_layer,
    list_layers,
)


def small_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 8), nn.Linear(8, 3)
    )


# ----------------------------------------------------------------------------------- not a module
@pytest.mark.parametrize("entry", [list_layers, SpectralAnalysis])
def test_not_a_module(entry):
    with pytest.raises(NotAModuleError, match=r"expected a torch.nn.Module as model, got int.*weights=None"):
        entry(42)
    with pytest.raises(
        NotAModuleError, match=r"got OrderedDict: this looks like a state_dict.*load_state_dict"
    ):
        entry(small_net().state_dict())
    with pytest.raises(NotAModuleError, match=r"got dict: this looks like a state_dict"):
        entry({"weight": torch.ones(2, 2)})
    with pytest.raises(NotAModuleError, match=r"got str: pass the model object, not its name.*get_model"):
        entry("resnet18")
    assert issubclass(NotAModuleError, TypeError) and issubclass(NotAModuleError, DDPWidgetsError)


def test_decompose_rejects_what_it_cannot_decompose():
    with pytest.raises(LayerNotDecomposableError, match=r"cannot decompose a str.*or pass a weight tensor"):
        decompose("features.0")
    with pytest.raises(LayerNotDecomposableError, match="has no matrix to decompose"):
        decompose(torch.ones(5))


# --------------------------------------------------------------------------------- no weighted layers
def test_model_with_no_weighted_layers():
    with pytest.raises(
        NoWeightedLayersError, match=r"Sequential has no layer ddp-widgets can decompose.*resnet18"
    ):
        SpectralAnalysis(nn.Sequential(nn.ReLU(), nn.Flatten()))
    # only an unsupported layer: the message gives its reason
    with pytest.raises(NoWeightedLayersError, match=r"0: Embedding is not a layer ddp-widgets decomposes"):
        SpectralAnalysis(nn.Sequential(nn.Embedding(5, 3)))
    assert list_layers(nn.Sequential(nn.ReLU())) == []


# ------------------------------------------------------------------------------------ NaN / Inf
@pytest.mark.parametrize(
    "bad,what", [(math.nan, "1 NaN and 0 Inf"), (math.inf, "0 NaN and 1 Inf"), (-math.inf, "0 NaN and 1 Inf")]
)
def test_non_finite_weights_name_the_layer(bad, what):
    model = small_net()
    with torch.no_grad():
        model[3].weight[2, 5] = bad
    sa = SpectralAnalysis(model, progress=False)
    with pytest.raises(NonFiniteWeightsError, match=rf"layer '3' has {what} weight entries.*torch.isfinite"):
        sa.metrics()
    # the failure poisoned nothing: the clean layers are still computed correctly
    df = sa.metrics(layers=["0", "4"])
    assert df["sv_max"].notna().all() and (df["sv_max"] > 0).all()
    torch.testing.assert_close(sa.values("0"), decompose(model[0], values_only=True))
    for call in (lambda: sa.svd("3"), lambda: sa.spectrum("3"), lambda: sa.spectrum("3", view="slices")):
        with pytest.raises(NonFiniteWeightsError, match="layer '3'"):
            call()
    with pytest.raises(NonFiniteWeightsError, match=rf"layer 'fc' has {what}"):
        decompose(model[3], name="fc")
    with pytest.raises(NonFiniteWeightsError, match=what):
        decompose(model[3].weight, values_only=True)


# ----------------------------------------------------------------------------------- unknown names
def test_unknown_layer_name_suggests_list_layers():
    model = nn.Sequential()
    model.add_module("features", nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3)))
    model.add_module("pool", nn.AdaptiveAvgPool2d(1))
    model.add_module("flat", nn.Flatten())
    model.add_module("fc", nn.Linear(4, 2))
    sa = SpectralAnalysis(model, progress=False)
    pattern = r"no weighted layer named 'features.3'\. Did you mean 'features.2'.*list_layers\(model\)"
    for call in (sa.svd, sa.spectrum, sa.values, lambda n: sa.metrics(layers=[n])):
        with pytest.raises(UnknownLayerError, match=pattern):
            call("features.3")
    with pytest.raises(
        UnknownLayerError, match=r"'pool'.*list_layers.*this model has 3: features.0, features.2, fc"
    ):
        sa.svd("pool")
    with pytest.raises(UnknownLayerError, match="list_layers"):
        get_layer(model, "classifier")
    with pytest.raises(KeyError):  # also a KeyError, as a bad key is
        list_layers(model).get("nope")


def test_a_listed_but_undecomposable_layer_says_why():
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2))
    sa = SpectralAnalysis(model, example_input=torch.tensor([1, 2]), progress=False)
    assert sa.names == ["1"]
    with pytest.raises(
        LayerNotDecomposableError, match="layer '0' cannot be decomposed: Embedding is not a layer"
    ):
        sa.svd("0")


# ------------------------------------------------------------------------------------------- meta
def test_meta_device_parameters():
    with torch.device("meta"):
        model = small_net()
    with pytest.raises(MetaDeviceError, match=r"meta device \(e.g. '0.weight'\).*to_empty\(device='cpu'\)"):
        SpectralAnalysis(model)
    layers = list_layers(model)  # listing still works: every layer, with the reason
    assert len(layers) == 3 and not layers.decomposable
    assert all("meta device" in i.reason and "to_empty" in i.reason for i in layers)
    with pytest.raises(MetaDeviceError, match=r"layer 'conv'.*meta device.*load_state_dict"):
        decompose(model[0], name="conv")


# ------------------------------------------------------------------------------------ input shape
def test_example_input_of_the_wrong_shape_names_the_layer_and_the_shape():
    model = small_net()
    with pytest.raises(
        InputShapeError,
        match=r"shape \(1, 1, 8, 8\) failed in layer '0' \(Conv2d\).*expects \(batch, 3, H, W\)",
    ):
        list_layers(model, torch.zeros(1, 1, 8, 8))
    # right channels, wrong spatial size: the failure is further down, in the Linear
    with pytest.raises(InputShapeError, match=r"failed in layer '3' \(Linear\).*expects \(\.\.\., 144\)"):
        SpectralAnalysis(model, example_input=torch.zeros(1, 3, 9, 9))
    conv1d = nn.Sequential(nn.Conv1d(5, 2, 3))
    with pytest.raises(InputShapeError, match=r"layer '0' \(Conv1d\).*expects \(batch, 5, L\)"):
        list_layers(conv1d, torch.zeros(1, 2, 10))
    conv3d = nn.Sequential(nn.Conv3d(2, 2, 3))
    with pytest.raises(InputShapeError, match=r"expects \(batch, 2, D, H, W\)"):
        list_layers(conv3d, torch.zeros(1, 3, 5, 5, 5))


def test_bad_option_values():
    sa = SpectralAnalysis(small_net(), progress=False)
    with pytest.raises(
        UnknownOptionError, match="unknown view 'kernel': use one of unfolded, slices, operator"
    ):
        sa.spectrum("0", view="kernel")
    with pytest.raises(UnknownOptionError, match="unknown normalization 'wigner': use one of mm .*, ddp"):
        SpectralAnalysis(small_net(), normalization="wigner")
    with pytest.raises(UnknownOptionError, match="use one of median, mean, max"):
        SpectralAnalysis(small_net(), mp_method="fit")
    with pytest.raises(
        UnknownOptionError, match="unknown convention 'weightwatcher': use one of default, ww"
    ):
        SpectralAnalysis(small_net(), convention="weightwatcher")
    with pytest.raises(UnknownOptionError, match="float32 or float64, not torch.float16"):
        SpectralAnalysis(small_net(), dtype=torch.float16)
    with pytest.raises(UnknownOptionError, match="unknown baseline 'shuffled'"):
        sa.compare("shuffled")
    with pytest.raises(NeuronIndexError, match="SVD neuron 3 out of range: 4 has 3 singular values"):
        sa.svd("4").singular_filter(3)
