"""Saved explorations: a round trip restores selection and settings; broken or edited files fail clearly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import tiny_cnn

from ddp_widgets.core.errors import SessionError
from ddp_widgets.session import INDEX, load_session
from ddp_widgets.widgets import Explorer, explore

EXAMPLE = torch.zeros(1, 1, 12, 12)


@pytest.fixture
def saved(explorer: Explorer, tmp_path: Path) -> tuple[Explorer, Path]:
    ex = explorer
    layer = ex.analysis.names[1]
    ex.selection.select(
        layer=layer, neuron=2, neurons=[1, 2], class_label=1, image_index=int(ex.vectors._top[0])
    )
    ex.spectrum.apply_settings({"log_esd": False, "overlays": ["slices"]})
    ex.metrics.apply_settings({"metric": "stable_rank", "baseline": "random-init"})
    ex.vectors.apply_settings({"n_filters": 4})
    ex.hypergraph.apply_settings(
        {"follow": False, "layers": [ex.profile.layers[-1]], "top_k": 5, "threshold": 0.4, "collapse": True}
    )
    return ex, ex.save(tmp_path / "session")


def test_round_trip_restores_selection_settings_and_profile(
    saved: tuple[Explorer, Path], model: Any, data: Any
) -> None:
    ex, folder = saved
    again = explore(model, example_input=EXAMPLE, session=folder, images=data[2], labels=data[1])
    assert again.messages == [] and again.tracebacks == []
    assert again.selection.to_dict() == ex.selection.to_dict()
    assert again.settings() == ex.settings()
    assert again.settings()["hypergraph"]["layers"] == [ex.profile.layers[-1]]
    assert not again.hypergraph.follow.value and not again.hypergraph.layers.disabled
    assert again.vectors.filters.count == 4
    assert again.spectrum.overlay["slices"].value and not again.spectrum.log_esd.value
    for layer in ex.profile.layers:  # the profile itself: float64 sums stored exactly
        np.testing.assert_array_equal(again.profile.class_mean(layer), ex.profile.class_mean(layer))
        np.testing.assert_array_equal(
            again.profile.top_images(layer, 0)[0], ex.profile.top_images(layer, 0)[0]
        )
    assert again.profile.class_names == ex.profile.class_names
    again.close()


def test_the_session_is_json_and_the_profile_pickle_free(saved: tuple[Explorer, Path]) -> None:
    _, folder = saved
    record = json.loads((folder / INDEX).read_text())
    assert record["format"] == "ddp-widgets-session" and record["version"] == 1
    assert set(record["files"]) >= {record["profile"]}
    for name in record["files"]:
        if name.endswith(".npz"):
            with np.load(folder / name, allow_pickle=False) as z:
                assert z.files
    assert not list(folder.parent.glob(".session-*"))  # the temporary folder was moved into place


def test_corrupt_json_gives_a_clear_error(saved: tuple[Explorer, Path], model: Any) -> None:
    _, folder = saved
    (folder / INDEX).write_text((folder / INDEX).read_text()[:-40])
    with pytest.raises(SessionError, match=r"session.json is corrupt \(not valid JSON"):
        load_session(folder)
    ex = explore(model, example_input=EXAMPLE, session=folder)
    assert (
        ex.analysis is None and "Cannot open this session" in ex.status.value and "corrupt" in ex.messages[0]
    )
    assert "SessionError" in ex.tracebacks[0] and "Traceback" in ex.tracebacks[0]


def _edit(folder: Path, **changes: Any) -> None:
    record = json.loads((folder / INDEX).read_text())
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            record[section][field] = value
        else:
            record[section] = value
    (folder / INDEX).write_text(json.dumps(record))


def test_an_edited_session_is_refused_unless_asked(saved: tuple[Explorer, Path], model: Any) -> None:
    _, folder = saved
    _edit(folder, selection__neuron=1)
    with pytest.raises(
        SessionError, match=r"was changed after it was written \(checksum mismatch\).*verify=False"
    ):
        load_session(folder)
    assert load_session(folder, verify=False).selection["neuron"] == 1


def test_an_edited_value_that_does_not_fit_is_named(saved: tuple[Explorer, Path], model: Any) -> None:
    _, folder = saved
    _edit(folder, selection__layer="features.99")
    session = load_session(folder, verify=False)
    again = Explorer(explore(model, example_input=EXAMPLE).analysis, profile=session.profile)
    with pytest.raises(SessionError, match=r"the saved selection does not fit this model.*'features.99'"):
        session.apply(again)
    _edit(folder, views={"spectrum": {"log_esd": "yes"}})
    with pytest.raises(
        SessionError, match=r"settings of view 'spectrum' cannot be restored.*must be of type bool"
    ):
        load_session(folder, verify=False).apply(again)
    _edit(folder, views={"radar": {}})
    with pytest.raises(SessionError, match=r"views \['radar'\] that this explorer does not show"):
        load_session(folder, verify=False).apply(again)


def test_a_changed_profile_file_version_or_missing_file_is_refused(saved: tuple[Explorer, Path]) -> None:
    _, folder = saved
    npz = next(folder.rglob("*.npz"))
    npz.write_bytes(npz.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(SessionError, match=r"was changed or corrupted after the session was written"):
        load_session(folder)
    npz.unlink()
    with pytest.raises(SessionError, match=r"is incomplete: profile/.*\.npz is missing"):
        load_session(folder)
    _edit(folder, version=2)
    with pytest.raises(SessionError, match=r"session format version 2; this ddp-widgets reads version 1"):
        load_session(folder)
    with pytest.raises(SessionError, match=r"no saved exploration at .*nowhere"):
        load_session(folder.parent / "nowhere")


def test_a_session_of_other_weights_is_refused(saved: tuple[Explorer, Path]) -> None:
    _, folder = saved
    other = tiny_cnn()
    with torch.no_grad():
        other[0].weight.mul_(1.5)
    ex = explore(other, example_input=EXAMPLE, session=folder)
    assert ex.analysis is not None and ex.messages and "other weights of this architecture" in ex.messages[0]
    assert "Session not restored" in ex.messages[0] and ex.tracebacks


def test_saving_never_overwrites_a_folder_that_is_not_a_session(explorer: Explorer, tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(SessionError, match="exists and is not a saved exploration"):
        explorer.save(tmp_path / "notes")
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"
    first = explorer.save(tmp_path / "s")
    assert explorer.save(tmp_path / "s") == first  # a session folder is replaced whole
