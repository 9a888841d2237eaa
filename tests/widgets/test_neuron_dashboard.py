"""NeuronDashboard headless.

It follows the selection, shows both poles with their maps, fills the ablation chart with what
neurons.ablate returns, shows the readout (or why not), and clicks select classes and images.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
import torch

import ddp_widgets as dw
from ddp_widgets import neurons
from ddp_widgets.core.errors import ViewArgumentError
from ddp_widgets.widgets.neuron_dashboard import NeuronDashboard, blend_overlay

CONV, LINEAR = "2", "6"  # the tiny CNN's second conv and its last (Linear) layer


@pytest.fixture
def dash(analysis: Any, profile: Any, data: Any) -> Any:
    images, labels, raw = data
    sel = dw.Selection.for_analysis(analysis, profile, layer=CONV, neuron=0)
    d = NeuronDashboard(analysis, profile, sel, images, labels=labels, images=raw)
    yield d
    d.close()


def _tooltip_indices(grid: Any) -> list[int]:
    return [int(t.split(" ")[1]) for t in grid.tooltips]


def test_poles_are_the_profiles_top_and_bottom_images(dash: Any, profile: Any) -> None:
    top, top_s = profile.top_images(CONV, 0, dash.n_images)
    bottom, bottom_s = profile.bottom_images(CONV, 0, dash.n_images)
    assert _tooltip_indices(dash.top_grid) == list(top) and _tooltip_indices(dash.bottom_grid) == list(bottom)
    assert dash.top_grid.count == dash.bottom_grid.count == dash.n_images
    assert set(top).isdisjoint(bottom)  # 60 images, 6 per pole: the two ends differ
    # labelled by sign: the bottom pole's signals are the smallest, shown with their sign
    assert all(lab.startswith(f"{s:+.2g} ") for s, lab in zip(bottom_s, dash.bottom_grid.labels, strict=True))
    assert bottom_s.max() <= top_s.min()
    assert "top pole" in dash.top_grid.title and "bottom pole" in dash.bottom_grid.title


def test_follows_the_selection_and_redraws_once_per_change(dash: Any, profile: Any) -> None:
    assert "SVD neuron 0 of 2" in dash.header.value and "rank 1 of" in dash.header.value
    before = dash.top_grid.data
    assert dash.draws == 1
    dash.selection.neuron = 3
    assert dash.calls["_on_focus"] == 1 and dash.draws == 2
    assert "SVD neuron 3 of 2" in dash.header.value and "rank 4 of" in dash.header.value
    assert _tooltip_indices(dash.bottom_grid) == list(profile.bottom_images(CONV, 3, dash.n_images)[0])
    assert dash.top_grid.data != before
    sigma = profile.singular_values(CONV)[3]
    assert f"σ = {sigma:.4g}" in dash.header.value
    dash.selection.neuron = 1
    dash.selection.layer = LINEAR
    assert dash.calls["_on_focus"] == 3 and dash.draws == 4
    assert f"SVD neuron 1 of {LINEAR}" in dash.header.value
    assert _tooltip_indices(dash.top_grid) == list(profile.top_images(LINEAR, 1, dash.n_images)[0])
    assert dash.last_error is None
    # class and image changes do not redraw the neuron
    dash.selection.class_label = 1
    dash.selection.image_index = 5
    assert dash.draws == 4 and dash.calls["_on_class"] == 1 and dash.calls["_on_image"] == 1
    # a layer without the focused neuron drops it (two trait events): one redraw, with nothing focused
    dash.selection.select(layer=CONV, neuron=5)
    draws = dash.draws
    dash.selection.layer = LINEAR  # rank 3: neuron 5 is dropped
    assert dash.selection.neuron is None and dash.draws == draws + 1
    assert "select an SVD neuron" in dash.header.value and dash.top_grid.count == 0


def test_maps_overlay_shares_one_colour_scale_and_opacity_reblends(
    dash: Any, analysis: Any, profile: Any, data: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = data[0]
    top, _ = profile.top_images(CONV, 0, dash.n_images)
    bottom, _ = profile.bottom_images(CONV, 0, dash.n_images)
    both = np.concatenate([top, bottom])
    expected = neurons.maps(analysis, CONV, 0, images[torch.as_tensor(both)]).double().numpy()
    np.testing.assert_allclose(dash._vmax, np.abs(expected).max(), rtol=1e-6)
    assert "one scale for both poles" in dash.map_note.value
    calls: Counter[str] = Counter()
    real = neurons.maps
    monkeypatch.setattr(neurons, "maps", lambda *a, **k: calls.update(["maps"]) or real(*a, **k))
    shown = dash.top_grid.data
    dash.opacity.value = 0.0  # image only: the tiles are the plain pictures
    assert calls["maps"] == 0 and dash.top_grid.data != shown
    plain = np.frombuffer(dash.top_grid.data, np.uint8).reshape(dash.top_grid.shape)
    assert (plain[..., 0] == plain[..., 1]).all()  # grey pictures, no colour laid over them
    dash.opacity.value = 1.0
    coloured = np.frombuffer(dash.top_grid.data, np.uint8).reshape(dash.top_grid.shape)
    assert (coloured[..., 0] != coloured[..., 2]).any()


def diverging_at(value: float) -> np.ndarray:
    from ddp_widgets.widgets._images import diverging

    return diverging(np.array([value]), 1.0)[0].astype(float)


def test_blend_overlay() -> None:
    img = np.full((4, 4, 3), 100, np.uint8)
    m = np.zeros((2, 2))
    assert (blend_overlay(img, m, 1.0, 1.0) == img).all()  # no signal: the image shows through
    # a quarter of vmax: colour weight sqrt(1/4) = 1/2 (the map's row 1 is the image's rows 2, 3)
    m[1, 0] = 0.25
    half = blend_overlay(img, m, 1.0, 1.0)[2, 0].astype(float)
    np.testing.assert_allclose(half, (100 + diverging_at(0.25)) / 2, atol=1)
    m[0, 0] = 2.0  # beyond vmax: the colour covers the pixel fully at opacity 1 (red end of the scale)
    out = blend_overlay(img, m, 1.0, 1.0)
    assert (
        tuple(out[0, 0]) == (178, 24, 43) and tuple(out[1, 1]) == (178, 24, 43) and (out[3, 3] == 100).all()
    )
    assert (blend_overlay(img, m, 1.0, 0.0) == img).all()


def test_ablate_fills_its_chart_with_what_neurons_ablate_returns(dash: Any, analysis: Any, data: Any) -> None:
    images, labels, _ = data
    assert not dash.ablate_bars.y.any() and dash.ablation is None
    dash.selection.neuron = 1
    dash.ablate_button.click()
    assert dash.last_error is None, dash.last_traceback
    expected = neurons.ablate(
        analysis, CONV, [1], images, labels, class_names=dash.class_names, progress=False
    )
    np.testing.assert_allclose(dash.ablate_bars.y, expected["delta_accuracy"].to_numpy(), rtol=0, atol=1e-12)
    # shown in chunks of 4 batches and merged: the same table as one pass (tolerances for the float sums)
    np.testing.assert_array_equal(dash.ablation["n_images"], expected["n_images"])
    for col in ("accuracy_before", "accuracy_after", "delta_accuracy"):
        np.testing.assert_allclose(dash.ablation[col], expected[col], rtol=0, atol=1e-12)
    for col in ("true_logit_before", "true_logit_after", "delta_true_logit"):
        np.testing.assert_allclose(dash.ablation[col], expected[col], rtol=1e-5, atol=1e-6)
    assert dash.ablation.attrs["accuracy_after"] == pytest.approx(expected.attrs["accuracy_after"], abs=1e-12)
    assert dash.progress.value == dash.progress.max == len(images) and dash.progress.layout.display == "none"
    assert "accuracy" in dash.ablate_note.value and f"{CONV}:1" in dash.ablate_note.value
    assert not dash.ablate_button.disabled
    # another neuron: the chart is emptied until ablated again
    dash.selection.neuron = 2
    assert not np.asarray(dash.ablate_bars.y).any() and dash.ablation is None


def test_chunked_ablation_merges_to_one_pass(dash: Any, analysis: Any, data: Any) -> None:
    images, labels, _ = data
    dash.batch_size = 4  # 60 images in chunks of 16: four chunks, the last one short
    dash.selection.neuron = 2
    dash.ablate()
    expected = neurons.ablate(
        analysis, CONV, [2], images, labels, class_names=dash.class_names, progress=False
    )
    np.testing.assert_allclose(
        dash.ablation["accuracy_after"], expected["accuracy_after"], rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        dash.ablation["true_logit_after"], expected["true_logit_after"], rtol=1e-5, atol=1e-6
    )


def test_readout_bars_or_the_reason_why_not(dash: Any, analysis: Any, profile: Any) -> None:
    with pytest.raises(dw.core.DDPWidgetsError) as err:
        neurons.readout(analysis, CONV)
    assert "No weight-space readout" in dash.readout_note.value
    assert str(err.value).split(":")[0].replace("'", "&#x27;") in dash.readout_note.value
    assert dash.readout_fig not in dash.readout_box.children
    dash.selection.select(layer=LINEAR, neuron=1)
    expected = neurons.readout(analysis, LINEAR, class_names=dash.class_names).loc[1, dash.class_names]
    np.testing.assert_allclose(dash.readout_bars.y, expected.to_numpy(np.float64), rtol=1e-12)
    assert dash.readout_fig in dash.readout_box.children and "No weight-space" not in dash.readout_note.value
    assert "Linear layer" in dash.map_note.value  # no spatial map for a Linear layer, said so
    assert dash.opacity.disabled  # and no overlay to fade


def test_class_clicks_set_the_selection_and_follow_it(dash: Any) -> None:
    for bars in (dash.class_bars, dash.readout_bars, dash.ablate_bars):
        bars.selected = [2]  # what a click in the browser sends
        assert dash.selection.class_label == 2
        bars.selected = [0]
        assert dash.selection.class_label == 0
    dash.selection.class_label = 1
    for bars in (dash.class_bars, dash.readout_bars, dash.ablate_bars):
        assert list(bars.selected) == [1]
    assert dash.calls["_on_bar_click"] == 6  # the views' own updates were not echoed back


def test_image_clicks_set_image_and_class(dash: Any, profile: Any, data: Any) -> None:
    labels = data[1]
    bottom, _ = profile.bottom_images(CONV, 0, dash.n_images)
    dash.bottom_grid.selected_index = 2
    assert dash.selection.image_index == int(bottom[2])
    assert dash.selection.class_label == int(labels[int(bottom[2])])
    assert dash.top_grid.selected_index is None
    top, _ = profile.top_images(CONV, 0, dash.n_images)
    dash.selection.image_index = int(top[4])
    assert dash.top_grid.selected_index == 4 and dash.bottom_grid.selected_index is None


def test_errors_in_actions_are_shown_in_the_view(dash: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the model fell over")

    monkeypatch.setattr(neurons, "ablate", broken)
    dash.ablate_button.click()
    assert (
        isinstance(dash.last_error, RuntimeError) and "the model fell over" in dash.errors.outputs[0]["text"]
    )
    assert not dash.ablate_button.disabled  # usable again after the error


def test_feature_visualisation_on_demand(dash: Any) -> None:
    dash.steps.value = 3
    dash.visualize_button.click()
    assert dash.last_error is None, dash.last_traceback
    assert dash.visual.count == 1 and dash.visualization.history.shape == (3,)
    assert "3 steps" in dash.visual_note.value
    dash.selection.neuron = 1
    assert dash.visual.count == 0  # another neuron: its visualisation is not shown for this one


def test_data_that_is_not_the_profiled_inputs_is_refused(analysis: Any, profile: Any, data: Any) -> None:
    images, labels, _ = data
    with pytest.raises(ViewArgumentError, match="does not match the profile"):
        NeuronDashboard(analysis, profile, None, images * 2, labels=labels)
    with pytest.raises(ViewArgumentError, match="labels has 59 entries for 60 inputs"):
        NeuronDashboard(analysis, profile, None, images, labels=labels[:-1])
    with pytest.raises(ViewArgumentError, match="not among the profile's classes"):
        NeuronDashboard(analysis, profile, None, images, labels=["circle"] * 59 + ["hexagon"])
    with pytest.raises(ViewArgumentError, match="class indices 0..2"):
        NeuronDashboard(analysis, profile, None, images, labels=labels + 1)
    named = NeuronDashboard(
        analysis, profile, None, images, labels=[profile.class_names[int(c)] for c in labels]
    )
    np.testing.assert_array_equal(named.labels, labels.numpy())  # class names are looked up
    with pytest.raises(ViewArgumentError, match="needs a Profile"):
        NeuronDashboard(analysis, None, None, images, labels=labels)


def test_figures_and_settings(dash: Any, tmp_path: Any) -> None:
    dash.ablate()
    names = set(dash.figures())
    assert {
        f"dashboard_{CONV}_0_class_signal",
        f"dashboard_{CONV}_0_poles",
        f"dashboard_{CONV}_0_ablation",
    } <= names
    paths = dash.save_figures(tmp_path, formats=("png",))
    assert len(paths) == len(names) and all(p.stat().st_size > 0 for p in paths)
    dash.apply_settings({"n_images": 3, "opacity": 0.2, "steps": 8})
    assert dash.settings() == {"n_images": 3, "opacity": 0.2, "steps": 8, "expanded": True}
    assert dash.top_grid.count == 3
    with pytest.raises(dw.core.DDPWidgetsError):
        dash.apply_settings({"opacity": 3.0})


def test_in_the_explorer_only_with_a_profile_and_its_inputs(analysis: Any, profile: Any, data: Any) -> None:
    from ddp_widgets.widgets import Explorer

    images, labels, raw = data
    shown = Explorer(analysis, profile=profile, images=images, labels=labels)
    try:
        assert shown.dashboard is not None and shown.dashboard in shown.views
        # collapsed in the explorer: not redrawn on clicks until expanded, then brought up to date
        assert not shown.dashboard.expanded and shown.dashboard.body not in shown.dashboard.children
        draws = shown.dashboard.draws
        shown.selection.select(layer=CONV, neuron=2)
        shown.selection.class_label = 1
        assert shown.dashboard.draws == draws
        # the static snapshot (rendered after cells) shows a collapsed dashboard as it is: no redraw for it
        assert shown.dashboard.snapshot_figures() == {} and shown.dashboard.draws == draws
        shown.dashboard.toggle.value = True  # the "show" button
        assert shown.dashboard.body in shown.dashboard.children and shown.dashboard.draws == draws + 1
        assert "SVD neuron 2 of 2" in shown.dashboard.header.value
        assert list(shown.dashboard.class_bars.selected) == [1]
        shown.dashboard.top_grid.selected_index = 0
        assert shown.selection.image_index == _tooltip_indices(shown.dashboard.top_grid)[0]
        assert shown.vectors.calls["_on_image"] >= 1  # the other views follow the dashboard's click
    finally:
        shown.close()
    for ex in (
        Explorer(analysis, profile=profile, images=raw, labels=labels),  # pictures, not inputs
        Explorer(analysis, profile=None, images=images, labels=labels),
    ):
        assert ex.dashboard is None
        ex.close()
