"""Issue 9 regressions: caches that follow the weights, every weighted matrix listed or decomposed,
dtype handling, honest fits, escaped HTML, all-or-nothing selection."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn
from traitlets import TraitError

from ddp_widgets import SpectralAnalysis
from ddp_widgets.core import LayerNotProfilableError, TorchScriptModelError, list_layers
from ddp_widgets.profiling import Profiler
from ddp_widgets.selection import Selection
from ddp_widgets.zoo import load_default_data, load_default_model


def small_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 6 * 6, 10), nn.ReLU(), nn.Linear(10, 4))


def svdvals(w: torch.Tensor) -> np.ndarray:
    return torch.linalg.svdvals(w.detach().double().reshape(w.shape[0], -1)).numpy()


# ----------------------------------------------------------------------------------- stale caches
def test_in_place_edit_gives_fresh_metrics_without_user_action():
    model = small_cnn()
    sa = SpectralAnalysis(model, torch.zeros(1, 3, 8, 8), progress=False)
    before = sa.metrics().set_index("layer")
    with torch.no_grad():
        model[0].weight.mul_(10)
    after = sa.metrics().set_index("layer")
    assert after.loc["0", "sv_max"] == pytest.approx(10 * before.loc["0", "sv_max"], rel=1e-5)
    assert after.loc["3", "sv_max"] == before.loc["3", "sv_max"]  # untouched layer: the cached row
    assert sa.spectrum("0").singular_values[0] == pytest.approx(svdvals(model[0].weight)[0], rel=1e-5)


def test_load_state_dict_and_parameter_replacement_refresh_the_numbers():
    model, other = small_cnn(), small_cnn()
    torch.manual_seed(5)
    other[3].reset_parameters()
    sa = SpectralAnalysis(model, torch.zeros(1, 3, 8, 8), progress=False)
    sa.metrics()
    model.load_state_dict(other.state_dict())
    np.testing.assert_allclose(sa.values("3").double().numpy(), svdvals(other[3].weight), rtol=1e-5)
    model[5].weight = nn.Parameter(torch.eye(4, 10))  # a new Parameter object: identity changes
    np.testing.assert_allclose(sa.values("5").numpy(), np.ones(4), rtol=1e-6)
    assert sa.svd("5").values[0] == pytest.approx(1.0)


def test_unchanged_model_recomputes_nothing_and_refresh_clears():
    sa = SpectralAnalysis(small_cnn(), torch.zeros(1, 3, 8, 8), progress=False)
    first = sa.metrics()
    sa.spectrum("0", view="slices")
    sa.compare("permuted")
    done = dict(sa.computed)
    again = sa.metrics()
    sa.spectrum("0", view="slices")
    sa.compare("permuted")
    assert dict(sa.computed) == done  # nothing recomputed
    assert first.equals(again)
    assert sa.is_computed("0") and sa.cached_metrics("0") is not None
    sa.refresh()
    assert not sa.is_computed("0") and sa.cached_metrics("0") is None
    sa.metrics()
    assert sa.computed["metrics"] == 2 * done["metrics"]


def test_training_loop_default_model_everything_follows_the_weights():
    torch.manual_seed(0)
    model = load_default_model()
    data = load_default_data(n=40)
    sa = SpectralAnalysis(model, progress=False)
    prof = Profiler(sa)
    layer = "features.0"
    m0, s0 = sa.metrics().set_index("layer"), sa.spectrum(layer)
    u0, sig0 = sa.svd(layer).U.clone(), prof.signals(data.images[:8])[layer].clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model.train()
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(data.images), data.labels).backward()
        opt.step()
    model.eval()
    fresh = SpectralAnalysis(model, progress=False)  # the reference: built from the new weights
    m1 = sa.metrics().set_index("layer")
    ref = fresh.metrics().set_index("layer")
    for col in ("sv_max", "alpha", "stable_rank", "norm"):
        np.testing.assert_allclose(m1[col].to_numpy(), ref[col].to_numpy(), rtol=1e-6, atol=1e-9)
    assert not np.allclose(m1["sv_max"].to_numpy(), m0["sv_max"].to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(sa.spectrum(layer).eigenvalues, fresh.spectrum(layer).eigenvalues, rtol=1e-5)
    assert not np.allclose(sa.spectrum(layer).eigenvalues, s0.eigenvalues, rtol=1e-4)
    np.testing.assert_allclose(sa.svd(layer).U.abs(), fresh.svd(layer).U.abs(), atol=1e-4)
    assert not torch.allclose(sa.svd(layer).U.abs(), u0.abs(), atol=1e-4)
    sig1 = prof.signals(data.images[:8])[layer]
    ref_sig = Profiler(fresh).signals(data.images[:8])[layer]
    torch.testing.assert_close(sig1.abs(), ref_sig.abs(), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(sig1.abs(), sig0.abs(), atol=1e-4)
    done = dict(sa.computed)  # an unchanged model: nothing recomputed
    sa.metrics(), sa.spectrum(layer), sa.svd(layer), prof.signals(data.images[:8])
    assert dict(sa.computed) == done


# --------------------------------------------------------------------- attention, wrappers, quantized
def test_multihead_attention_q_k_v_blocks_and_out_proj():
    torch.manual_seed(0)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), 1).eval()
    sa = SpectralAnalysis(enc, torch.zeros(1, 5, 16), progress=False)
    w = enc.layers[0].self_attn.in_proj_weight
    for i, part in enumerate("qkv"):
        name = f"layers.0.self_attn.{part}_proj"
        np.testing.assert_allclose(sa.values(name).double().numpy(), svdvals(w[16 * i : 16 * (i + 1)]), rtol=1e-5)
        assert sa.info(name).note.startswith(part.upper()) and not sa.info(name).profilable
    out = sa.info("layers.0.self_attn.out_proj")
    assert out.decomposable and out.calls == 0 and "never called" in out.profile_reason
    prof = Profiler(sa)
    assert "layers.0.self_attn.out_proj" not in prof.layers and "layers.0.self_attn.q_proj" not in prof.layers
    assert prof.layers == ["layers.0.linear1", "layers.0.linear2"]
    with pytest.raises(LayerNotProfilableError, match=r"never called.*Pass layers=\[\.\.\.\].*layers.0.linear1"):
        Profiler(sa, layers=["layers.0.self_attn.out_proj"])
    with pytest.raises(LayerNotProfilableError, match="no output of its own to hook"):
        Profiler(sa, layers="layers.0.self_attn.k_proj")


def test_separate_q_k_v_projection_weights():
    mha = nn.MultiheadAttention(8, 2, kdim=4, vdim=6)
    layers = list_layers(mha, probe_pass=False)
    assert [i.name for i in layers][:3] == ["q_proj", "k_proj", "v_proj"]
    assert [i.weight_shape for i in layers][:3] == [(8, 8), (8, 4), (8, 6)]


def test_dynamically_quantized_linear_is_decomposed_from_its_dequantized_weight():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = torch.ao.quantization.quantize_dynamic(small_cnn().eval(), {nn.Linear}, dtype=torch.qint8)
        sa = SpectralAnalysis(q, torch.zeros(1, 3, 8, 8), progress=False)
        deq = q[3].weight().dequantize()
    assert sa.names == ["0", "3", "5"] and "dequantized" in sa.info("3").note
    np.testing.assert_allclose(sa.values("3").double().numpy(), svdvals(deq), rtol=1e-5)
    assert Profiler(sa).layers == ["0"]  # the quantized ones are listed with a reason instead


def test_compiled_and_data_parallel_models_are_unwrapped():
    model = small_cnn()
    for wrapped in (torch.compile(model), nn.DataParallel(model)):
        sa = SpectralAnalysis(wrapped, torch.zeros(1, 3, 8, 8), progress=False)
        assert sa.names == ["0", "3", "5"] and sa.model is model
        assert list_layers(wrapped, probe_pass=False).names == ["0", "3", "5"]


def test_torchscript_model_gets_an_error_saying_to_pass_the_eager_model():
    scripted = torch.jit.script(small_cnn())
    with pytest.raises(TorchScriptModelError, match="TorchScript.*pass the eager nn.Module"):
        SpectralAnalysis(scripted)
    with pytest.raises(TypeError):  # still a TypeError for existing handlers
        list_layers(scripted)


# -------------------------------------------------------------------------------- parametrizations
def parametrized_net() -> nn.Sequential:
    torch.manual_seed(0)
    from torch.nn.utils import parametrizations as P

    return nn.Sequential(
        P.weight_norm(nn.Conv2d(3, 6, 3)), nn.ReLU(), nn.Flatten(), P.spectral_norm(nn.Linear(6 * 6 * 6, 10)),
        nn.ReLU(), nn.utils.spectral_norm(nn.Linear(10, 4)),  # the older hook-based one
    )


def test_parametrized_layers_one_row_each_effective_weight_no_side_effects():
    model = parametrized_net().train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    sa = SpectralAnalysis(model, torch.zeros(1, 3, 8, 8), progress=False)
    sa.metrics(), sa.compare("random-init"), sa.compare("permuted"), sa.svd("3").U
    assert sa.layers.names == ["0", "3", "5"]  # no ParametrizationList rows
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())  # no buffer changed
    assert model.training and model[3].parametrizations.weight[0].training
    with torch.no_grad():
        model.eval()
        effective = model[3].weight
    np.testing.assert_allclose(sa.values("3").double().numpy(), svdvals(effective), rtol=1e-5)
    assert sa.values("3")[0] == pytest.approx(1.0, abs=0.05)  # spectral norm: σ_max ≈ 1 (power-iteration estimate)


def test_random_init_baseline_of_a_parametrized_layer_is_not_the_trained_weight():
    model = parametrized_net()
    sa = SpectralAnalysis(model, torch.zeros(1, 3, 8, 8), progress=False)
    for name in sa.names:
        trained = sa.spectrum(name).singular_values
        base = sa.spectrum(name, baseline="random-init")
        assert base.singular_values.shape == trained.shape
        assert not np.allclose(base.singular_values, trained, rtol=1e-3), name
    assert "parametrization" in sa.spectrum("0", baseline="random-init").note


class FrozenInit(nn.Linear):
    def reset_parameters(self) -> None:  # a no-op reset (e.g. weights loaded elsewhere)
        pass


def test_no_op_reset_gives_a_fresh_default_initialised_matrix_with_a_note():
    torch.manual_seed(0)
    layer = FrozenInit(40, 30)
    nn.init.normal_(layer.weight, std=3.0)
    model = nn.Sequential(layer)
    sa = SpectralAnalysis(model, torch.zeros(1, 40), progress=False)
    base = sa.spectrum("0", baseline="random-init")
    assert "reset left the weight unchanged" in base.note and "default-initialised" in base.note
    assert base.singular_values[0] < sa.spectrum("0").singular_values[0] / 5  # kaiming-uniform scale, not std 3
    bound = 1 / np.sqrt(40)
    frob = np.sqrt(np.sum(base.singular_values**2))
    assert frob == pytest.approx(bound * np.sqrt(40 * 30 / 3), rel=0.1)  # E w² = bound²/3


# ----------------------------------------------------------------------------------------- dtype
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_half_bfloat16_float64_models_probe_and_profile(dtype):
    model = small_cnn().to(dtype)
    sa = SpectralAnalysis(model, torch.zeros(1, 3, 8, 8), progress=False)  # float32 input: cast to the model's
    assert sa.layers.probe_error is None and sa.info("0").input_shape is not None
    assert sa.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    assert sa.values("3").dtype == sa.dtype
    ref = svdvals(model[3].weight.float() if dtype != torch.float64 else model[3].weight)
    np.testing.assert_allclose(sa.values("3").double().numpy(), ref, rtol=1e-5)
    prof = Profiler(model, example_input=torch.zeros(1, 3, 8, 8))
    sig = prof.signals(torch.randn(2, 3, 8, 8))
    assert sig["3"].shape == (2, 10) and bool(torch.isfinite(sig["3"]).all())
    assert prof.analysis.projection("3").dtype == dtype


# --------------------------------------------------------------------------------- fits and names
def test_full_x_min_scan_by_default_and_a_cap_is_recorded():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3000, 2500))
    sa = SpectralAnalysis(model, torch.zeros(1, 3000), progress=False)
    fit = sa.spectrum("0").power_law
    assert fit.scanned == fit.candidates and fit.candidates > 2000 and fit.note == ""
    capped = SpectralAnalysis(model, torch.zeros(1, 3000), progress=False, max_candidates=100)
    cfit = capped.spectrum("0").power_law
    assert cfit.scanned == 100 and "capped" in cfit.note and "100" in capped.metrics()["fit_note"][0]


def test_fewer_than_20_eigenvalues_get_a_warning_column():
    df = SpectralAnalysis(small_cnn(), torch.zeros(1, 3, 8, 8), progress=False).metrics().set_index("layer")
    assert "fewer than 20" in df.loc["5", "alpha_warning"] and "fewer than 20" in df.loc["0", "alpha_warning"]
    assert df.loc["3", "alpha_warning"] == "" or df.loc["3", "num_evals"] < 20


class OddNames(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4, 4))  # a root-level matrix parameter
        self.add_module("<b>x</b>", nn.Linear(4, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, "<b>x</b>")(x @ self.scale)


def test_root_level_parameter_has_a_readable_name_and_html_is_escaped():
    model = OddNames()
    sa = SpectralAnalysis(model, torch.zeros(1, 4), progress=False)
    root = sa.layers.get("scale")
    assert not root.decomposable and "a parameter of the model itself (OddNames.scale)" in root.reason
    assert "" not in sa.layers.names
    sa.metrics()
    for text in (sa.layers._repr_html_(), sa._repr_html_()):
        assert "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt;" in text


def test_selection_select_is_all_or_nothing():
    sel = Selection(valid_layers=["a", "b"], ranks={"a": 8, "b": 2})
    sel.select(layer="a", singular_index=5)
    seen = []
    sel.observe(lambda change: seen.append(change["name"]), names=["layer", "singular_index"])
    with pytest.raises(TraitError, match="index below 2"):
        sel.select(layer="b", singular_index=5)
    assert (sel.layer, sel.singular_index) == ("a", 5) and seen == []
    sel.select(layer="b", singular_index=1)
    assert (sel.layer, sel.singular_index) == ("b", 1)


def test_operator_view_scans_every_x_min_candidate():
    """The old scan stopped at 2^24 / n candidates on large operator spectra (16–83 on real layers)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, padding_mode="circular"))
    sa = SpectralAnalysis(model, torch.zeros(1, 16, 24, 24), progress=False)
    spec = sa.spectrum("0", view="operator")
    assert spec.exact and spec.eigenvalues.size == 24 * 24 * 16
    assert spec.power_law.scanned == spec.power_law.candidates > (1 << 24) // spec.eigenvalues.size


def test_random_init_weight_is_seeded_by_seed_and_name_and_leaves_the_module_alone():
    from ddp_widgets.core import random_init_weight

    conv = nn.Conv2d(3, 4, 3)
    before = conv.weight.detach().clone()
    a, again, other = (random_init_weight(conv, 0, n) for n in ("x", "x", "y"))
    assert torch.equal(a, again) and not torch.equal(a, other) and not torch.equal(a, before)
    assert torch.equal(conv.weight, before)
