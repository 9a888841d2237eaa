"""Issue 9 sweep: on attention models, quantized, compiled and parametrized models every weight matrix is
decomposed or listed with a reason (counted against the model's own parameters), and profile() runs with
the Profiler's default layers. The torchvision transformers are slow (marked); the rest is fast."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torchvision
from torch import nn
from torch.nn.utils import parametrizations

from ddp_widgets import SpectralAnalysis
from ddp_widgets.core.weights import is_quantized
from ddp_widgets.profiling import Profiler


def matrix_parameters(model: nn.Module) -> set[str]:
    """Qualified names of the parameters with two or more non-trivial dimensions (a parametrization's
    originals stand for the weight they make, e.g. "fc.parametrizations.weight.original" -> "fc.weight")."""
    out = set()
    for name, p in model.named_parameters():
        if sum(s > 1 for s in p.shape) < 2:
            continue
        parts = name.split(".")
        if "parametrizations" in parts:
            i = parts.index("parametrizations")
            name = ".".join(parts[:i] + [parts[i + 1]])
        out.add(name)
    return out


def check_coverage(sa: SpectralAnalysis, model: nn.Module) -> None:
    covered = {info.parameter_name for info in sa.layers}
    missing = matrix_parameters(model) - covered
    assert not missing, f"weight matrices neither decomposed nor listed: {sorted(missing)[:5]}"
    for info in sa.layers:
        assert info.decomposable or info.reason, info.name
        assert info.profilable or info.profile_reason, info.name
    quantized = [n for n, m in model.named_modules() if is_quantized(m)]
    assert set(quantized) <= set(sa.names)
    for name in sa.names:  # decomposed: finite singular values of the right count
        v = sa.values(name)
        assert v.numel() == sa.info(name).rank_bound and bool(torch.isfinite(v).all()), name


def check_profile(sa: SpectralAnalysis, x: torch.Tensor) -> None:
    prof = Profiler(sa)
    assert prof.layers == sa.profilable_layers() and prof.layers
    profile = prof.profile(x, progress=False)
    assert profile.n_images == x.shape[0]
    for layer in profile.layers:
        assert np.isfinite(profile.overall_mean(layer)).all()


def encoder() -> nn.Module:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
    return nn.Sequential(
        nn.TransformerEncoder(layer, 2, enable_nested_tensor=False), nn.Flatten(), nn.Linear(6 * 32, 5)
    ).eval()


def cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, groups=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 6 * 6, 16),
        nn.ReLU(),
        nn.Linear(16, 4),
    ).eval()


def test_transformer_encoder():
    model = encoder()
    x = torch.randn(3, 6, 32)
    sa = SpectralAnalysis(model, x[:1], progress=False)
    check_coverage(sa, model)
    assert sum(1 for n in sa.names if n.endswith(("q_proj", "k_proj", "v_proj"))) == 6
    check_profile(sa, x)


def test_dynamically_quantized_model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = torch.ao.quantization.quantize_dynamic(cnn(), {nn.Linear}, dtype=torch.qint8)
        sa = SpectralAnalysis(model, torch.zeros(1, 3, 8, 8), progress=False)
        check_coverage(sa, model)
    assert [i.name for i in sa.layers if "dequantized" in i.note] == ["5", "7"]
    check_profile(sa, torch.randn(4, 3, 8, 8))


class QuantStubbed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant, self.dequant = torch.ao.quantization.QuantStub(), torch.ao.quantization.DeQuantStub()
        self.body = cnn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dequant(self.body(self.quant(x)))


def test_statically_quantized_model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = QuantStubbed().eval()
        model.qconfig = torch.ao.quantization.get_default_qconfig("fbgemm")
        prepared = torch.ao.quantization.prepare(model)
        prepared(torch.randn(8, 3, 8, 8))
        quantized = torch.ao.quantization.convert(prepared)
        sa = SpectralAnalysis(quantized, torch.zeros(1, 3, 8, 8), progress=False)
        check_coverage(sa, quantized)
        deq = quantized.body[2].weight().dequantize()
    assert sa.names == ["body.0", "body.2", "body.5", "body.7"]
    assert all("dequantized" in sa.info(n).note and not sa.info(n).profilable for n in sa.names)
    np.testing.assert_allclose(
        sa.values("body.2").numpy(),
        torch.linalg.svdvals(deq.reshape(2, 4, -1)).flatten().sort(descending=True).values.numpy(),
        rtol=1e-5,
    )


def test_compiled_model():
    model = cnn()
    sa = SpectralAnalysis(torch.compile(model), torch.zeros(1, 3, 8, 8), progress=False)
    assert not any("_orig_mod" in n for n in sa.layers.names)
    check_coverage(sa, model)
    check_profile(sa, torch.randn(4, 3, 8, 8))


def test_parametrized_model():
    model = cnn()
    parametrizations.weight_norm(model[0])
    parametrizations.spectral_norm(model[5])
    parametrizations.orthogonal(model[7])
    sa = SpectralAnalysis(model, torch.zeros(1, 3, 8, 8), progress=False)
    assert sa.layers.names == ["0", "2", "5", "7"]
    check_coverage(sa, model)
    np.testing.assert_allclose(sa.values("7").numpy(), np.ones(4), atol=1e-5)  # orthogonal rows
    check_profile(sa, torch.randn(4, 3, 8, 8))


def build(name: str) -> nn.Module | None:
    torch.manual_seed(0)
    try:
        return torchvision.models.get_model(name, weights=None).eval()
    except Exception:  # noqa: BLE001 - a model that does not build offline is skipped
        return None


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vit_b_16", "swin_t", "maxvit_t"])
def test_torchvision_transformers(name):
    torch.set_num_threads(1)
    model = build(name)
    if model is None:
        pytest.skip(f"{name} does not build offline here")
    x = torch.randn(2, 3, 224, 224)
    sa = SpectralAnalysis(model, x[:1], progress=False)
    check_coverage(sa, model)
    never = [i.name for i in sa.layers if i.decomposable and i.calls == 0]
    assert all("never called" in sa.info(n).profile_reason for n in never)
    if name == "vit_b_16":
        assert len(never) == 12 and all(n.endswith("out_proj") for n in never)
        assert sum(1 for n in sa.names if n.endswith("q_proj")) == 12
    if name == "swin_t":
        assert any(n.endswith("attn.qkv") for n in never) and any(n.endswith("attn.proj") for n in never)
    check_profile(sa, x)
