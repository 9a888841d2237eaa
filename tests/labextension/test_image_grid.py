"""ImageGrid, Python side: array conversion, validation messages, binary transport, selection round trip."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import comm
import numpy as np
import pytest
import torch
from traitlets import TraitError

import ddp_widgets
from ddp_widgets.widgets.image_grid import _NOT_BUILT_ESM, CSS, ESM, ImageGrid

ROOT = Path(__file__).resolve().parents[2]


class RecordingComm:
    """Stands in for the kernel's comm: records what the widget would send to the front end."""

    comm_id = "recording-comm"
    kernel = "recording"

    def __init__(self, **kwargs):
        self.opened = kwargs
        self.sent: list[dict] = []

    def send(self, data=None, metadata=None, buffers=None):
        self.sent.append({"data": data, "buffers": list(buffers or [])})

    def on_msg(self, callback):
        self.callback = callback

    def close(self, *args, **kwargs):
        pass


@pytest.fixture
def recording_comm(monkeypatch):
    monkeypatch.setattr(comm, "create_comm", lambda **kwargs: RecordingComm(**kwargs))


def pixels(grid: ImageGrid) -> np.ndarray:
    dtype = np.uint8 if grid.dtype == "uint8" else np.dtype("<f4")
    return np.frombuffer(grid.data, dtype=dtype).reshape(grid.shape)


class TestFromArray:
    def test_greyscale_stack_gets_one_channel(self):
        images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
        grid = ImageGrid.from_array(images, labels=["a", "b"], tooltips=["first", "second"], title="t")
        assert grid.shape == [2, 3, 4, 1]
        assert grid.dtype == "uint8"
        assert grid.labels == ["a", "b"] and grid.tooltips == ["first", "second"] and grid.title == "t"
        np.testing.assert_array_equal(pixels(grid)[..., 0], images)

    def test_channels_last_rgb_is_kept(self):
        images = np.random.default_rng(0).random((5, 6, 7, 3))
        grid = ImageGrid.from_array(images)
        assert grid.shape == [5, 6, 7, 3]
        assert grid.dtype == "float32"
        np.testing.assert_allclose(pixels(grid), images.astype(np.float32))

    def test_torch_channels_first_is_moved_last(self):
        images = torch.randn(4, 3, 5, 6, requires_grad=True)
        grid = ImageGrid.from_array(images)
        assert grid.shape == [4, 5, 6, 3]
        np.testing.assert_allclose(pixels(grid), images.detach().permute(0, 2, 3, 1).numpy())

    def test_ambiguous_shape_reads_channels_first_unless_told(self):
        filters = np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3)  # (n, c, k, k) RGB filters
        first = ImageGrid.from_array(filters)
        np.testing.assert_array_equal(pixels(first), np.moveaxis(filters, 1, 3))
        last = ImageGrid.from_array(filters, channels_last=True)
        np.testing.assert_array_equal(pixels(last), filters)

    def test_single_channel_first_and_bfloat16(self):
        images = torch.ones(3, 1, 4, 4, dtype=torch.bfloat16) * -2
        grid = ImageGrid.from_array(images)
        assert grid.shape == [3, 4, 4, 1]
        assert np.all(pixels(grid) == -2)

    def test_dtypes(self):
        assert ImageGrid.from_array(np.ones((1, 2, 2), dtype=np.int64)).dtype == "float32"
        assert ImageGrid.from_array(np.ones((1, 2, 2), dtype=np.float64)).dtype == "float32"
        boolean = ImageGrid.from_array(np.array([[[True, False]]]))
        assert boolean.dtype == "uint8"
        assert list(pixels(boolean).ravel()) == [255, 0]

    def test_data_is_little_endian_float32_in_c_order(self):
        images = np.array([[[1.5, -2.0]]], dtype=">f8")  # big-endian, float64, in
        grid = ImageGrid.from_array(images)
        assert grid.data == np.array([1.5, -2.0], dtype="<f4").tobytes()

    def test_no_images(self):
        grid = ImageGrid.from_array(np.zeros((0, 8, 8)))
        assert grid.shape == [0, 8, 8, 1] and grid.data == b"" and grid.count == 0

    def test_other_traits_through_kwargs(self):
        grid = ImageGrid.from_array(np.zeros((2, 4, 4)), tile_size=32, columns=2, colormap="diverging")
        assert (grid.tile_size, grid.columns, grid.colormap) == (32, 2, "diverging")


class TestValidation:
    @pytest.mark.parametrize(
        "shape", [(4, 4), (2, 4, 4, 2), (2, 5, 4, 4), (1, 2, 3, 4, 5)], ids=["2d", "c2", "c5", "5d"]
    )
    def test_bad_shapes_say_what_is_expected(self, shape):
        with pytest.raises(ValueError, match=r"expects images of shape \(n, h, w\), \(n, h, w, c\) or"):
            ImageGrid.from_array(np.zeros(shape))

    def test_many_channels_hint(self):
        with pytest.raises(ValueError, match=r"got shape \(2, 5, 4, 4\); for more channels pass one channel"):
            ImageGrid.from_array(np.zeros((2, 5, 4, 4)))

    def test_channels_last_that_does_not_fit(self):
        with pytest.raises(ValueError, match=r"channels_last=True was given"):
            ImageGrid.from_array(np.zeros((2, 3, 4, 4)), channels_last=True)

    def test_not_an_array(self):
        with pytest.raises(TypeError, match=r"numpy array or a torch tensor .* got list; wrap lists"):
            ImageGrid.from_array([[[0, 1]]])

    def test_complex_data(self):
        with pytest.raises(TypeError, match=r"real-valued images .* got dtype complex64"):
            ImageGrid.from_array(np.zeros((1, 2, 2), dtype=np.complex64))

    def test_empty_images(self):
        with pytest.raises(ValueError, match=r"at least one pixel"):
            ImageGrid.from_array(np.zeros((3, 0, 4)))

    def test_label_count(self):
        with pytest.raises(ValueError, match=r"labels must have one entry per image: expected 2, got 3"):
            ImageGrid.from_array(np.zeros((2, 4, 4)), labels=["a", "b", "c"])
        with pytest.raises(TypeError, match=r"tooltips must be a sequence of 2 strings"):
            ImageGrid.from_array(np.zeros((2, 4, 4)), tooltips="ab")

    def test_labels_are_stringified(self):
        grid = ImageGrid.from_array(np.zeros((2, 4, 4)), labels=[0, 1.5])
        assert grid.labels == ["0", "1.5"]

    def test_traits(self):
        grid = ImageGrid.from_array(np.zeros((3, 4, 4)))
        with pytest.raises(TraitError, match=r"selected_index.*0 <= index < 3, not 3"):
            grid.selected_index = 3
        with pytest.raises(TraitError, match=r"'labels' trait .* one entry per image \(3\), not 1"):
            grid.labels = ["x"]
        with pytest.raises(TraitError, match=r"'shape' trait .* \[n, h, w, c\] with c = 1 or 3"):
            grid.shape = [3, 4, 4, 2]
        with pytest.raises(TraitError):
            grid.colormap = "viridis"
        with pytest.raises(TraitError):
            grid.tile_size = 2
        with pytest.raises(TraitError):
            grid.columns = -1

    def test_failed_set_images_leaves_the_grid_unchanged(self):
        grid = ImageGrid.from_array(np.zeros((2, 4, 4)), labels=["a", "b"])
        with pytest.raises(ValueError):
            grid.set_images(np.zeros((3, 4, 4)), labels=["only one"])
        assert grid.shape == [2, 4, 4, 1] and grid.labels == ["a", "b"]


class TestSelection:
    def test_set_images_clears_the_selection(self):
        grid = ImageGrid.from_array(np.zeros((4, 2, 2)))
        grid.selected_index = 3
        grid.set_images(np.zeros((5, 2, 2)))
        assert grid.selected_index is None

    def test_shrinking_shape_drops_a_selection_past_the_end(self):
        grid = ImageGrid.from_array(np.zeros((4, 2, 2)))
        grid.selected_index = 3
        grid.shape = [2, 2, 2, 1]
        assert grid.selected_index is None

    def test_click_from_the_front_end_reaches_python_observers(self, recording_comm):
        grid = ImageGrid.from_array(np.zeros((6, 2, 2)))
        seen = []
        grid.observe(lambda change: seen.append(change["new"]), names="selected_index")
        grid.comm.callback(
            {
                "content": {"data": {"method": "update", "state": {"selected_index": 4}, "buffer_paths": []}},
                "buffers": [],
            }
        )
        assert grid.selected_index == 4
        assert seen == [4]


class TestMultiSelection:
    def _click(self, grid, **state):
        """An update message as the front end sends it for one click."""
        message = {"method": "update", "state": state, "buffer_paths": []}
        grid.comm.callback({"content": {"data": message}, "buffers": []})

    def test_a_ctrl_click_from_the_front_end_sets_focus_and_tiles_together(self, recording_comm):
        grid = ImageGrid.from_array(np.zeros((6, 2, 2)))
        seen = []
        grid.observe(lambda c: seen.append((grid.selected_index, grid.chosen())), names="selected_index")
        self._click(grid, selected_index=1)
        self._click(grid, selected_index=4, selected_indices=[1, 4])
        assert (grid.selected_index, grid.selected_indices) == (4, [1, 4])
        assert seen == [(1, [1]), (4, [1, 4])]  # observers see both traits of a click at once

    def test_select_sets_both_in_one_message_and_one_tile_is_a_single_selection(self, recording_comm):
        grid = ImageGrid.from_array(np.zeros((6, 2, 2)))
        grid.comm.sent.clear()
        grid.select(2, [5, 0, 2, 2])
        (message,) = grid.comm.sent
        assert message["data"]["state"] == {"selected_index": 2, "selected_indices": [0, 2, 5]}
        assert grid.chosen() == [0, 2, 5]
        grid.select(3, [3])
        assert (grid.selected_index, grid.selected_indices, grid.chosen()) == (3, [], [3])

    def test_a_focus_outside_the_selected_tiles_ends_them(self):
        grid = ImageGrid.from_array(np.zeros((6, 2, 2)))
        grid.select(1, [1, 3])
        grid.selected_index = 3  # inside: kept
        assert grid.selected_indices == [1, 3]
        grid.selected_index = 5
        assert (grid.selected_indices, grid.chosen()) == ([], [5])

    def test_indices_are_checked_sorted_and_dropped_with_the_images(self):
        grid = ImageGrid.from_array(np.zeros((4, 2, 2)))
        with pytest.raises(TraitError, match=r"'selected_indices' trait .* 0 <= index < 4, not \[4, 7\]"):
            grid.selected_indices = [0, 4, 7]
        grid.selected_indices = [3, 1, 3]
        assert grid.selected_indices == [1, 3]
        grid.shape = [2, 2, 2, 1]
        assert grid.selected_indices == [1]
        grid.selected_indices = [0, 1]
        grid.set_images(np.zeros((4, 2, 2)))
        assert (grid.selected_index, grid.selected_indices) == (None, [])


class TestTransport:
    def test_pixels_travel_as_one_binary_buffer_not_json(self, recording_comm):
        images = np.random.default_rng(1).random((512, 8, 8)).astype(np.float32)
        grid = ImageGrid.from_array(images, labels=[str(i) for i in range(512)])
        opened = grid.comm.opened
        assert opened["data"]["buffer_paths"] == [["data"]]
        assert "data" not in opened["data"]["state"]
        (buffer,) = opened["buffers"]
        assert bytes(buffer) == images.tobytes()
        json.dumps(opened["data"]["state"])  # the rest is plain JSON
        assert opened["data"]["state"]["shape"] == [512, 8, 8, 1]

    def test_set_images_is_one_update_message(self, recording_comm):
        grid = ImageGrid.from_array(np.zeros((2, 4, 4), dtype=np.uint8))
        grid.comm.sent.clear()
        grid.set_images(np.ones((3, 5, 5, 3), dtype=np.uint8), labels=["a", "b", "c"])
        (message,) = grid.comm.sent
        state = message["data"]["state"]
        assert message["data"]["method"] == "update"
        assert message["data"]["buffer_paths"] == [["data"]]
        assert set(state) >= {"shape", "labels"} and state["shape"] == [3, 5, 5, 3]
        assert bytes(message["buffers"][0]) == np.ones((3, 5, 5, 3), dtype=np.uint8).tobytes()

    def test_the_module_travels_in_the_state_and_the_pixels_beside_it(self, recording_comm):
        grid = ImageGrid.from_array(np.zeros((2, 4, 4), dtype=np.uint8))
        state = grid.comm.opened["data"]["state"]
        names = (state["_model_module"], state["_model_name"], state["_view_name"])
        assert names == ("anywidget", "AnyModel", "AnyView")
        assert state["_esm"] == ESM.read_text() and state["_css"] == CSS.read_text()
        assert state["_anywidget_id"] == "ddp_widgets.widgets.image_grid.ImageGrid"
        assert grid.comm.opened["data"]["buffer_paths"] == [["data"]]


class TestFrontEndModule:
    """The built ES module (labextension/src/image_grid.ts -> ddp_widgets/static) is what the widget sends."""

    def test_the_built_module_and_styles_are_in_the_package(self):
        assert ESM.is_file() and CSS.is_file(), "run `pip install -e .` or `make labextension` with node"
        assert ESM.parent == Path(ddp_widgets.__file__).parent / "static"
        module = ESM.read_text()
        assert "export" in module and "ddp-ImageGrid-tile" in module and "@jupyter-widgets" not in module
        assert ".ddp-ImageGrid-tile.ddp-mod-selected" in CSS.read_text()
        assert str(ImageGrid()._esm) == module  # not the "not built" message

    def test_synced_traits_are_the_front_ends_trait_list(self):
        source = (ROOT / "labextension" / "src" / "traits.ts").read_text()
        interface = re.search(r"export interface IImageGridTraits \{(.*?)\n\}", source, re.DOTALL)
        assert interface, "IImageGridTraits not found in labextension/src/traits.ts"
        front_end = set(re.findall(r"^  (\w+)\??:", interface.group(1), re.MULTILINE))
        effects = re.search(r"TRAIT_EFFECTS[^=]*= \{(.*?)\n\};", source, re.DOTALL)
        assert effects and set(re.findall(r"^  (\w+):", effects.group(1), re.MULTILINE)) == front_end
        python = set(ImageGrid.class_own_traits(sync=True)) - {"_esm", "_css"}
        assert front_end == python

    def test_a_checkout_without_the_build_imports_and_says_so_in_the_view(self):
        code = (
            "import pathlib; real = pathlib.Path.is_file\n"
            "pathlib.Path.is_file = lambda p: False if p.parent.name == 'static' else real(p)\n"
            "from ddp_widgets.widgets.image_grid import ImageGrid, _NOT_BUILT_ESM\n"
            "grid = ImageGrid()\n"
            "assert str(grid._esm) == _NOT_BUILT_ESM and str(grid._css) == '', grid._esm[:80]\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
        assert "is not built" in _NOT_BUILT_ESM and "pip install -e ." in _NOT_BUILT_ESM


class TestStaticPicture:
    """to_rgba() is the view's colour scale in numpy (labextension/src/grid.ts; the same numbers as its
    tests; a browser test compares it with the canvases); snapshot_html() draws it for viewers without JS."""

    def test_diverging_scale_is_symmetric_per_tile_and_non_finite_is_transparent(self):
        # -1 of max 2: green 247 - 72.5 = 174.5 rounds up to 175 as in the view (numpy's round gives 174)
        images = np.array([[[-2.0, 0.0, 2.0, 1.0, -1.0, np.nan]], [[-0.1, 0.0, 0.1, 0.05, -0.05, np.inf]]])
        rgba = ImageGrid.from_array(images).to_rgba()
        for tile in rgba:  # each tile scaled by its own max |x|: the same colours at 100x smaller values
            assert tile[0, :5, :3].tolist() == [
                [33, 102, 172],
                [247, 247, 247],
                [178, 24, 43],
                [213, 136, 145],
                [140, 175, 210],
            ]
            assert tile[0, 5].tolist() == [0, 0, 0, 0] and set(tile[0, :5, 3]) == {255}

    def test_grey_scale_rounds_halves_up_as_the_view_does(self):
        grid = ImageGrid.from_array(np.array([[[0.0, 1.0, 0.5]], [[3.0, 3.0, 3.0]]]))
        rgba = grid.to_rgba()
        assert rgba[0, 0, :, 0].tolist() == [0, 255, 128]
        assert rgba[1, 0, :, :3].tolist() == [[128] * 3] * 3  # a constant tile is mid-grey
        assert ImageGrid.from_array(np.array([[[0.0, 0.25, 1.0]]])).to_rgba()[0, 0, 1, 0] == 64  # 63.75

    def test_colormap_uint8_and_signed_rgb(self):
        signed = np.array([[[-1.0, 0.0, 1.0]]])
        assert ImageGrid.from_array(signed, colormap="gray").to_rgba()[0, 0, :, 0].tolist() == [0, 128, 255]
        grey = ImageGrid.from_array(np.array([[[0, 7, 255]]], dtype=np.uint8), colormap="diverging")
        assert grey.to_rgba()[0, 0].tolist() == [[0, 0, 0, 255], [7, 7, 7, 255], [255, 255, 255, 255]]
        rgb = np.zeros((1, 1, 2, 3), dtype=np.float32)
        rgb[0, 0, 0] = [-1.0, 0.0, 0.5]
        rgba = ImageGrid.from_array(rgb, channels_last=True).to_rgba()
        assert rgba[0, 0, 0].tolist() == [0, 128, 191, 255] and rgba[0, 0, 1].tolist() == [128, 128, 128, 255]

    def test_snapshot_is_inline_pngs_of_those_pixels_with_labels(self):
        from PIL import Image  # an independent PNG decoder (pillow comes with matplotlib)

        images = np.random.default_rng(2).standard_normal((5, 4, 6)).astype(np.float32)
        labels = ["a<b", "b", "c", "d", "e"]
        grid = ImageGrid.from_array(images, labels=labels, title="Top & bottom", tile_size=24)
        page = grid.snapshot_html(max_tiles=3)
        sources = re.findall(r'src="data:image/png;base64,([^"]+)" width="(\d+)" height="(\d+)"', page)
        assert len(sources) == 3 and "… and 2 more images" in page
        assert "<b>Top &amp; bottom</b>" in page and ">a&lt;b</figcaption>" in page
        expected = grid.to_rgba()
        for index, (data, width, height) in enumerate(sources):
            with Image.open(io.BytesIO(base64.b64decode(data))) as png:
                decoded = np.asarray(png.convert("RGBA"))
            assert (int(width), int(height)) == (24, 16) == (decoded.shape[1], decoded.shape[0])  # zoom 4
            np.testing.assert_array_equal(decoded[::4, ::4], expected[index])
        assert "No images." in ImageGrid().snapshot_html()
