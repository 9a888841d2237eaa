"""ImageGrid in a real JupyterLab: 512 tiles render, hover shows the tooltip, clicks reach Python, and a
selection set from Python is highlighted."""

from __future__ import annotations

import time

TILES = ".ddp-ImageGrid-tile"

SETUP = """\
import numpy as np
from ddp_widgets.widgets.image_grid import ImageGrid

rng = np.random.default_rng(0)
# 512 signed 8x8 "singular filters": float data with negatives, so the diverging scale is used
filters = 0.1 * rng.standard_normal((512, 8, 8)).astype("float32")
filters[:, 2:6, 2:6] += np.linspace(-3, 3, 512, dtype="float32")[:, None, None]
grid = ImageGrid.from_array(
    filters,
    labels=[f"α={i}" for i in range(512)],
    tooltips=[f"singular filter {i}\\nσ = {1 / (i + 1):.3f}" for i in range(512)],
    tile_size=44,
    title="512 singular filters of one layer",
)
grid
"""


def test_image_grid_renders_512_tiles_and_syncs_the_selection(lab, lab_page):
    lab.write_notebook("image_grid_512.ipynb", [SETUP])
    lab_page.open_notebook("image_grid_512.ipynb")
    start = time.perf_counter()
    assert lab_page.run_all_cells(), lab_page.cell_errors()
    page = lab_page.page
    tiles = page.locator(TILES)
    page.wait_for_function(f"() => document.querySelectorAll('{TILES} canvas').length === 512")
    shown = time.perf_counter() - start
    assert tiles.count() == 512
    assert page.locator(".ddp-ImageGrid-title").inner_text() == "512 singular filters of one layer"
    assert tiles.nth(7).locator(".ddp-ImageGrid-label").inner_text() == "α=7"

    # The canvases hold the decoded pixels: diverging colours, strongly blue in filter 0, red in 511.
    centre_colour = """(i) => {
        const c = document.querySelectorAll('.ddp-ImageGrid-tile canvas')[i];
        return Array.from(c.getContext('2d').getImageData(4, 4, 1, 1).data);
    }"""
    r0, g0, b0, a0 = page.evaluate(centre_colour, 0)
    r1, g1, b1, a1 = page.evaluate(centre_colour, 511)
    assert a0 == a1 == 255
    assert b0 > r0 + 60 and r1 > b1 + 60, ((r0, g0, b0), (r1, g1, b1))
    # ... exactly the pixels of Python's to_rgba() (the static pictures' colour scale), NaN-free tiles here
    tile_pixels = """(i) => {
        const c = document.querySelectorAll('.ddp-ImageGrid-tile canvas')[i];
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
    }"""
    for index in (0, 200, 511):
        expected = lab_page.python(f"grid.to_rgba()[{index}].ravel().tolist()")
        assert page.evaluate(tile_pixels, index) == expected, f"tile {index}: canvas and to_rgba() differ"

    # Hover: the tooltip of that tile (output scrolled into view first, so the screenshot does not move it).
    output = page.locator(".jp-OutputArea-output").first
    output.scroll_into_view_if_needed()
    tiles.nth(5).hover()
    tooltip = page.locator(".ddp-ImageGrid-tooltip")
    tooltip.wait_for(state="visible")
    assert tooltip.inner_text() == "singular filter 5\nσ = 0.167"
    lab_page.screenshot("image_grid_512_hover", output)

    # Click (far down the scrolled grid): the kernel sees it, the tile is highlighted.
    tiles.nth(437).click()
    assert lab_page.wait_for_python("grid.selected_index", 437) == 437
    assert "ddp-mod-selected" in (tiles.nth(437).get_attribute("class") or "")

    # Set from Python: the highlight moves, only one tile is highlighted.
    lab_page.execute("grid.selected_index = 3")
    page.wait_for_function(
        f"() => document.querySelectorAll('{TILES}')[3].classList.contains('ddp-mod-selected')"
    )
    assert page.locator(f"{TILES}.ddp-mod-selected").count() == 1
    tiles.nth(3).scroll_into_view_if_needed()
    page.mouse.move(0, 0)
    lab_page.screenshot("image_grid_512_selected", output)

    # Replacing all 512 images from Python redraws them (one update message, one binary buffer).
    start_update = time.perf_counter()
    lab_page.execute("grid.set_images(-filters, labels=[f'β={i}' for i in range(512)])")
    page.wait_for_function(
        f"() => document.querySelectorAll('{TILES}')[511].textContent === 'β=511'", timeout=10_000
    )
    updated = time.perf_counter() - start_update
    assert page.locator(f"{TILES}.ddp-mod-selected").count() == 0  # set_images clears the selection
    print(f"\n512 tiles: shown {shown:.1f} s after run-all (kernel start too), redrawn in {updated:.2f} s")
    assert updated < 5
    lab_page.assert_no_console_errors()


def test_image_grid_rgb_uint8_with_fixed_columns(lab, lab_page):
    code = """\
import numpy as np
from ddp_widgets.widgets.image_grid import ImageGrid
x = np.zeros((6, 3, 16, 16), dtype=np.uint8)  # channels first, like torch
for i in range(6):
    x[i, i % 3] = 255  # red, green, blue, red, ...
rgb = ImageGrid.from_array(x, columns=3, tile_size=32)
rgb
"""
    lab.write_notebook("image_grid_rgb.ipynb", [code])
    lab_page.open_notebook("image_grid_rgb.ipynb")
    assert lab_page.run_all_cells(), lab_page.cell_errors()
    page = lab_page.page
    page.wait_for_function("() => document.querySelectorAll('.ddp-ImageGrid-tile canvas').length === 6")
    colours = page.evaluate(
        """() => Array.from(document.querySelectorAll('.ddp-ImageGrid-tile canvas'))
            .map(c => Array.from(c.getContext('2d').getImageData(0, 0, 1, 1).data))"""
    )
    assert colours[:3] == [[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255]]
    tops = page.evaluate(
        "() => Array.from(document.querySelectorAll('.ddp-ImageGrid-tile')).map(t => t.offsetTop)"
    )
    assert tops[0] == tops[2] < tops[3] == tops[5]  # three columns, two rows
    assert lab_page.page.locator(".ddp-ImageGrid-label").count() == 0  # no labels given, no label lines

    # Layout and selection changed in one message: both applied.
    lab_page.execute(
        "with rgb.hold_sync():\n    rgb.tile_size = 48\n    rgb.columns = 2\n    rgb.selected_index = 4"
    )
    page.wait_for_function(
        "() => document.querySelectorAll('.ddp-ImageGrid-tile')[4].classList.contains('ddp-mod-selected')"
    )
    boxes = page.evaluate(
        "() => Array.from(document.querySelectorAll('.ddp-ImageGrid-tile'))"
        ".map(t => [t.offsetLeft, t.offsetTop, t.offsetWidth])"
    )
    assert all(width == 48 for _, _, width in boxes)
    assert len({left for left, _, _ in boxes}) == 2 and len({top for _, top, _ in boxes}) == 3
    lab_page.assert_no_console_errors()
