"""explore(): the default model with its sample data, user models, and bad input shown in the widget."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import ddp_widgets as dw
from ddp_widgets.widgets import Explorer, explore


def _messages(ex: Explorer) -> str:
    return " ".join(ex.messages) + ex.status.value


def test_explore_without_arguments_opens_the_default_model_and_data() -> None:
    ex = explore(progress=False)
    assert isinstance(ex, Explorer) and ex.messages == []
    assert ex.analysis.names[0] == "features.0" and ex.profile.n_images == 1000
    assert ex.profile.class_names[0] == "T-shirt/top"
    assert (ex.selection.layer, ex.selection.neuron) == ("features.0", 0)
    assert ex.vectors.top_images.count == 8 and ex.hypergraph is not None
    assert ex.metrics.trained.x.size == len(ex.analysis.names)  # small model: metrics computed at once
    assert all(v.last_error is None for v in ex.views)
    ex.selection.layer = "classifier.0"
    assert all(v.last_error is None for v in ex.views), [v.last_traceback for v in ex.views]
    assert "1000 images, 10 classes" in ex.status.value


def test_explore_a_model_without_data(model: nn.Module) -> None:
    ex = explore(model, example_input=torch.zeros(1, 1, 12, 12))
    assert ex.profile is None and ex.hypergraph is None and ex.messages == []
    assert "no profile" in ex.status.value
    assert not hasattr(ex.vectors, "bars")


def test_explore_with_a_dataloader(model: nn.Module, data: Any) -> None:
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data[0], data[1]), batch_size=16)
    ex = explore(model, loader, example_input=torch.zeros(1, 1, 12, 12), progress=False)
    assert ex.messages == [] and ex.profile.n_images == len(data[1])
    assert ex.vectors.top_images.count > 0 and ex.vectors.labels is not None


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (nn.Sequential(nn.ReLU(), nn.Flatten()), "has no layer ddp-widgets can decompose"),
        ("resnet18", "pass the model object, not its name"),
        ({"weight": torch.zeros(2, 2)}, "looks like a state_dict"),
    ],
)
def test_a_model_that_cannot_be_analysed_shows_a_message(model: Any, message: str) -> None:
    ex = explore(model)
    assert ex.analysis is None and ex.views == []
    assert message in _messages(ex) and "Cannot analyse this model" in ex.status.value


def test_data_of_the_wrong_shape_shows_a_message_and_keeps_the_spectra(model: nn.Module, data: Any) -> None:
    ex = explore(model, torch.rand(10, 3, 12, 12), example_input=torch.zeros(1, 1, 12, 12))
    assert "does not fit the model" in _messages(ex) and "(N, 1, 12, 12)" in _messages(ex)
    assert ex.profile is None and ex.spectrum is not None and ex.spectrum.points.y.size
    ex = explore(model, np.zeros((10, 12, 12), np.float32), example_input=torch.zeros(1, 1, 12, 12))
    assert "does not fit the model" in _messages(ex)


def test_labels_of_the_wrong_length_show_a_message(model: nn.Module, data: Any) -> None:
    ex = explore(model, data[0], data[1][:7], example_input=torch.zeros(1, 1, 12, 12))
    assert f"labels has 7 entries but data has {len(data[1])} inputs" in _messages(ex)
    assert ex.profile is None and ex.layer_selector is not None


def test_data_the_model_fails_on_shows_the_profilers_message() -> None:
    fixed = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 10 * 10, 3))  # 12×12 inputs only
    ex = explore(fixed, torch.rand(4, 1, 16, 16), example_input=torch.zeros(1, 1, 12, 12), progress=False)
    assert "No profile: mat1 and mat2 shapes cannot be multiplied" in _messages(ex)  # the model's own error
    assert ex.spectrum is not None


def test_explore_reuses_a_given_selection(model: nn.Module) -> None:
    sel = dw.Selection(layer="2", neuron=3)
    ex = explore(model, example_input=torch.zeros(1, 1, 12, 12), selection=sel)
    assert ex.selection is sel and sel.layer == "2" and ex.spectrum.points.selected.tolist() == [3]


def test_problems_keep_their_traceback(model: nn.Module) -> None:
    ex = explore(model, torch.rand(10, 3, 12, 12), example_input=torch.zeros(1, 1, 12, 12))
    assert len(ex.tracebacks) == 1 and "Traceback (most recent call last)" in ex.tracebacks[0]
    assert "InputShapeError" in ex.tracebacks[0] and "<details>" in ex.status.value
    from ddp_widgets.core.errors import DataError, InputShapeError

    assert issubclass(InputShapeError, ValueError) and issubclass(DataError, ValueError)


def test_a_new_linked_view_is_one_entry_in_the_list(analysis: Any, profile: Any) -> None:
    from ddp_widgets.widgets import VIEWS, ViewEntry
    from ddp_widgets.widgets.spectrum_plot import SpectrumPlot

    extra = ViewEntry(
        "operator_spectrum", lambda ex: SpectrumPlot(ex.analysis, ex.selection, overlays=("operator",))
    )
    ex = Explorer(analysis, profile=profile, views=[*VIEWS, extra])
    assert list(ex.views_by_name)[-1] == "operator_spectrum"
    # below the main block (header, main views, the wide hypergraph), in a row of its own
    assert ex.children[-1].children == (ex.operator_spectrum,) and ex.children[-2] is ex.hypergraph
    ex.selection.layer = analysis.names[2]
    assert ex.operator_spectrum.rank_fig.title == ex.spectrum.rank_fig.title == f"σ of {analysis.names[2]}"
    assert "operator_spectrum" in ex.settings()
    ex.close()


def test_views_raise_package_errors(analysis: Any) -> None:
    from ddp_widgets.core.errors import DDPWidgetsError, ViewArgumentError, ViewError
    from ddp_widgets.widgets import LayerMetrics, LayerSelector, SpectrumPlot

    with pytest.raises(ViewError, match="unknown overlay"):
        SpectrumPlot(analysis, overlays=("nope",))
    with pytest.raises(ViewError, match="badge must be"):
        LayerSelector(analysis, badge="x")
    with pytest.raises(ViewError, match="unknown metric"):
        LayerMetrics(analysis, metric="x")
    with pytest.raises(ViewArgumentError, match="Selection.for_analysis"):
        SpectrumPlot(analysis, selection="features.0")
    assert issubclass(ViewError, (DDPWidgetsError, ValueError)) and issubclass(ViewArgumentError, TypeError)
