"""Selection: defaults, validation messages, consistency rules, helpers."""

from __future__ import annotations

import pytest
from traitlets import TraitError

from ddp_widgets import Selection

LAYERS = ["features.0", "features.2", "classifier.0"]


def constrained() -> Selection:
    return Selection(valid_layers=LAYERS, ranks={"features.0": 6, "features.2": 8, "classifier.0": 3},
                     class_names=["cat", "dog"], n_images=10)


def test_defaults_select_nothing() -> None:
    sel = Selection()
    assert sel.to_dict() == {"layer": None, "singular_index": None, "singular_indices": [], "class_label": None,
                             "class_labels": [], "image_index": None}
    assert repr(sel) == "Selection()"


def test_unconstrained_selection_accepts_any_layer() -> None:
    sel = Selection(layer="anything", singular_index=99)
    assert (sel.layer, sel.singular_index) == ("anything", 99)


def test_unknown_layer_names_the_valid_ones() -> None:
    sel = constrained()
    with pytest.raises(TraitError, match=r"expected one of the model's layers \('features.0', 'features.2', 'classifier.0'\), not 'features.1'.*Did you mean"):
        sel.layer = "features.1"
    assert sel.layer is None


@pytest.mark.parametrize(
    ("trait", "value", "message"),
    [
        ("singular_index", -1, r"index >= 0"),
        ("singular_index", 6, r"below 6 \(layer 'features.0' has 6 singular values\), not 6"),
        ("singular_indices", [1, 7], r"below 6"),
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
    sel.select(layer="features.2", singular_index=5, singular_indices=[2, 5])
    sel.layer = "features.0"  # rank 6: 5 is still valid
    assert sel.singular_index == 5
    sel.layer = "classifier.0"  # rank 3
    assert sel.singular_index is None and sel.singular_indices == [2]


def test_select_sets_the_layer_first() -> None:
    sel = constrained()
    sel.layer = "classifier.0"
    sel.select(singular_index=7, layer="features.2")  # 7 is valid only for the new layer
    assert (sel.layer, sel.singular_index) == ("features.2", 7)
    with pytest.raises(TypeError, match="unexpected keywords"):
        sel.select(neuron=1)


def test_a_focus_outside_the_multi_selection_ends_it() -> None:
    sel = Selection()
    sel.singular_indices = [1, 3]
    sel.singular_index = 3
    assert sel.singular_indices == [1, 3]
    sel.singular_index = 4
    assert sel.singular_indices == []
    sel.class_labels = [0, 1]
    sel.class_label = 2
    assert sel.class_labels == []


def test_new_valid_layers_drop_a_layer_no_longer_valid() -> None:
    sel = Selection(layer="old")
    sel.valid_layers = LAYERS
    assert sel.layer is None


def test_for_analysis_and_clear(analysis, profile) -> None:  # noqa: ANN001
    sel = Selection.for_analysis(analysis, profile, layer=analysis.names[1])
    assert sel.valid_layers == analysis.names
    assert sel.ranks[analysis.names[0]] == analysis.info(analysis.names[0]).rank_bound
    assert sel.class_names == list(profile.class_names) and sel.n_images == profile.n_images
    sel.clear()
    assert sel.layer is None


def test_each_observer_fires_once_per_change() -> None:
    sel = constrained()
    seen: list[str] = []
    sel.observe(lambda c: seen.append(c["name"]), names=["layer", "singular_index"])
    sel.layer = "features.0"
    sel.layer = "features.0"  # same value: no event
    sel.singular_index = 2
    assert seen == ["layer", "singular_index"]
