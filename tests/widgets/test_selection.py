"""Selection: defaults, validation messages, consistency rules, helpers."""

from __future__ import annotations

import pytest
from traitlets import TraitError

from ddp_widgets import Selection

LAYERS = ["features.0", "features.2", "classifier.0"]


def constrained() -> Selection:
    return Selection(
        valid_layers=LAYERS,
        ranks={"features.0": 6, "features.2": 8, "classifier.0": 3},
        class_names=["cat", "dog"],
        n_images=10,
    )


def test_defaults_select_nothing() -> None:
    sel = Selection()
    assert sel.to_dict() == {
        "layer": None,
        "neuron": None,
        "neurons": [],
        "class_label": None,
        "class_labels": [],
        "image_index": None,
    }
    assert repr(sel) == "Selection()"


def test_unconstrained_selection_accepts_any_layer() -> None:
    sel = Selection(layer="anything", neuron=99)
    assert (sel.layer, sel.neuron) == ("anything", 99)


def test_unknown_layer_names_the_valid_ones() -> None:
    sel = constrained()
    with pytest.raises(
        TraitError,
        match=(
            r"expected one of the model's layers \('features.0', 'features.2', 'classifier.0'\), "
            r"not 'features.1'.*Did you mean"
        ),
    ):
        sel.layer = "features.1"
    assert sel.layer is None


@pytest.mark.parametrize(
    ("trait", "value", "message"),
    [
        ("neuron", -1, r"index >= 0"),
        ("neuron", 6, r"below 6 \(layer 'features.0' has 6 singular values\), not 6"),
        ("neurons", [1, 7], r"below 6"),
        ("class_label", 2, r"class index 0 \.\.\. 1 \('cat', 'dog'\), not 2"),
        ("class_labels", [0, -1], r"class index"),
        ("image_index", 10, r"image index 0 \.\.\. 9, not 10"),
    ],
)
def test_out_of_range_values_raise_with_the_range(trait: str, value: object, message: str) -> None:
    sel = constrained()
    sel.layer = "features.0"
    with pytest.raises(TraitError, match=message):
        setattr(sel, trait, value)


def test_constructor_validates_after_the_constraints() -> None:
    with pytest.raises(TraitError, match="not 'nope'"):
        Selection(valid_layers=LAYERS, layer="nope")
    with pytest.raises(TypeError, match="unexpected keyword 'layers'"):
        Selection(layers=LAYERS)


def test_changing_layer_keeps_an_index_in_range_and_drops_one_out_of_range() -> None:
    sel = constrained()
    sel.select(layer="features.2", neuron=5, neurons=[2, 5])
    sel.layer = "features.0"  # rank 6: 5 is still valid
    assert sel.neuron == 5
    sel.layer = "classifier.0"  # rank 3
    assert sel.neuron is None and sel.neurons == [2]


def test_select_sets_the_layer_first() -> None:
    sel = constrained()
    sel.layer = "classifier.0"
    sel.select(neuron=7, layer="features.2")  # 7 is valid only for the new layer
    assert (sel.layer, sel.neuron) == ("features.2", 7)
    with pytest.raises(TypeError, match="unexpected keywords"):
        sel.select(neuronz=1)


def test_a_focus_outside_the_multi_selection_ends_it() -> None:
    sel = Selection()
    sel.neurons = [1, 3]
    sel.neuron = 3
    assert sel.neurons == [1, 3]
    sel.neuron = 4
    assert sel.neurons == []
    sel.class_labels = [0, 1]
    sel.class_label = 2
    assert sel.class_labels == []


def test_new_valid_layers_drop_a_layer_no_longer_valid() -> None:
    sel = Selection(layer="old")
    sel.valid_layers = LAYERS
    assert sel.layer is None


def test_for_analysis_and_clear(analysis, profile) -> None:
    sel = Selection.for_analysis(analysis, profile, layer=analysis.names[1])
    assert sel.valid_layers == analysis.names
    assert sel.ranks[analysis.names[0]] == analysis.info(analysis.names[0]).rank_bound
    assert sel.class_names == list(profile.class_names) and sel.n_images == profile.n_images
    sel.clear()
    assert sel.layer is None


def test_each_observer_fires_once_per_change() -> None:
    sel = constrained()
    seen: list[str] = []
    sel.observe(lambda c: seen.append(c["name"]), names=["layer", "neuron"])
    sel.layer = "features.0"
    sel.layer = "features.0"  # same value: no event
    sel.neuron = 2
    assert seen == ["layer", "neuron"]


def test_deprecated_singular_index_aliases_warn_and_still_work() -> None:
    sel = constrained()
    sel.layer = "features.0"
    with pytest.warns(
        DeprecationWarning, match=r"Selection.singular_index is deprecated.*use Selection.neuron"
    ):
        sel.singular_index = 4
    assert sel.neuron == 4
    with pytest.warns(DeprecationWarning, match="singular_indices"):
        assert sel.singular_indices == []
    with pytest.warns(DeprecationWarning, match="singular_indices"):
        sel.singular_indices = [1, 4]
    assert sel.neurons == [1, 4]
    with pytest.warns(DeprecationWarning, match="singular_index"):
        assert Selection(singular_index=2).neuron == 2
    with pytest.warns(DeprecationWarning, match="singular_index"):
        sel.select(singular_index=5)
    assert sel.neuron == 5
    with pytest.warns(DeprecationWarning), pytest.raises(TraitError, match="below 6"):
        sel.singular_index = 6  # still validated


def test_deprecation_warnings_point_at_the_callers_line() -> None:
    sel = constrained()
    sel.layer = "features.0"
    calls = {
        "constructor": lambda: Selection(singular_index=2),
        "select": lambda: sel.select(singular_index=3),
        "attribute": lambda: setattr(sel, "singular_index", 1),
    }
    for how, call in calls.items():
        with pytest.warns(DeprecationWarning) as record:
            call()
        assert [w.filename for w in record] == [__file__], (how, [(w.filename, w.lineno) for w in record])


def test_selection_errors_are_package_errors_and_value_errors() -> None:
    from ddp_widgets.core.errors import DDPWidgetsError
    from ddp_widgets.selection import SelectionError

    sel = constrained()
    with pytest.raises(SelectionError) as info:
        sel.layer = "nope"
    assert isinstance(info.value, (DDPWidgetsError, ValueError, TraitError))
    assert isinstance(info.value, DDPWidgetsError) and isinstance(info.value, ValueError)
