"""NeuronDashboard: everything about the focused SVD neuron in one view, linked to the Selection.

For ``selection.layer`` / ``selection.neuron``: σ and its rank, the singular filter, both poles of the
neuron (the dataset images with the largest and with the most negative signal) with their spatial maps laid
over them (one colour scale for all; opacity slider), the mean signal per class, the weight-space readout
(Δ class logit per unit of signal) where the layer reaches the logits through linear maps only, a per-class
Δaccuracy chart filled by the "ablate" button (rank-1 ablation, `ddp_widgets.neurons.ablate`) and a feature
visualisation on demand (`Profiler.visualize`). Clicking a class bar selects the class, clicking an image
selects the image (and its class), everywhere.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from .. import neurons
from .._labels import CLASS_SIGNAL_TITLE, CLASS_SIGNAL_Y, fmt, neuron_label
from ..core.errors import LayerNotDecomposableError, NotLinearToLogitsError, ViewArgumentError, ViewError
from ..profiling import Profiler
from ..selection import Selection
from ._base import View, callback, check_settings, esc, interaction, note_html, safe_name
from ._dashboard_parts import (
    EMPTY,
    bar_chart,
    bars_figure,
    blend_overlay,
    check_matches_profile,
    class_indices,
    colour_bar_html,
    default_model_inputs,
    inputs_and_labels,
    merge_ablations,
    model_inputs,
    set_bars,
    stack,
)
from ._images import render_filter, render_images
from .image_grid import ImageGrid

__all__ = ["NeuronDashboard", "blend_overlay", "for_explorer", "merge_ablations"]


class NeuronDashboard(View):
    """The focused SVD neuron (``selection.layer``, ``selection.neuron``) explained, in one view.

    source: a Profiler (or a SpectralAnalysis; a Profiler of it is made); profile: its `Profile` of `data`;
    data: the profiled model inputs, in the profile's dataset order (a tensor (N, C, H, W) with `labels`, or
    a DataLoader / Dataset of (x, y)): the maps are computed on its images and the ablation runs on it;
    images: what to show for each dataset index (default: the inputs themselves); labels: one class per image.
    mean, std: the model's input normalisation, used by the feature visualisation (None: [0, 1] as it is).
    Observes ``layer``, ``neuron``, ``class_label`` and ``image_index``.
    """

    def __init__(
        self,
        source: Any,
        profile: Any,
        selection: Selection | None = None,
        data: Any = None,
        *,
        labels: Any = None,
        images: Any = None,
        n_images: int = 6,
        opacity: float = 0.6,
        steps: int = 64,
        batch_size: int = 64,
        mean: Any = None,
        std: Any = None,
        expanded: bool = True,
    ) -> None:
        super().__init__(selection)
        if profile is None or not hasattr(profile, "top_images"):
            raise ViewArgumentError(
                "NeuronDashboard needs a Profile: profile = ddp_widgets.Profiler(model).profile(data, labels)"
            )
        self.profiler = source if isinstance(source, Profiler) else Profiler(source)
        self.analysis, self.profile, self.data = self.profiler.analysis, profile, data
        self.inputs, labels = inputs_and_labels(data, labels)
        self.class_names = [str(c) for c in profile.class_names]
        self.labels = class_indices(
            labels, self.class_names, None if self.inputs is None else int(self.inputs.shape[0])
        )
        if self.inputs is not None:
            check_matches_profile(self.profiler, profile, self.inputs)
        self.images = images if images is not None else self.inputs
        self.n_images, self.batch_size, self.mean, self.std = n_images, batch_size, mean, std
        self._poles: dict[str, np.ndarray] = {"top": np.zeros(0, np.int64), "bottom": np.zeros(0, np.int64)}
        self._scores: dict[str, np.ndarray] = {"top": np.zeros(0), "bottom": np.zeros(0)}
        self._base: list[np.ndarray] = []  # the pole images (top then bottom) before the overlay
        self._maps: np.ndarray | None = None
        self._vmax = 0.0
        self._readouts: dict[str, Any] = {}
        self.ablation: Any = None  # the DataFrame of the last ablation shown
        self.visualization: Any = None  # the last FeatureVisualization shown
        self.draws = 0  # redraws of the neuron (tests check one per change of focus)
        self._drawn: tuple[Any, Any] | None = None
        self._build_widgets(opacity, steps, expanded)
        self._watch(self._on_focus, ["layer", "neuron"])
        self._watch(self._on_class, ["class_label"])
        self._watch(self._on_image, ["image_index"])
        if expanded:
            self._draw()

    # -- collapsed or expanded -------------------------------------------------------------------------------
    @property
    def expanded(self) -> bool:
        """Whether the dashboard's body is shown. Collapsed, it draws nothing until expanded again (the
        Explorer starts it collapsed: six views redrawn per click would be slower than five)."""
        return bool(self.toggle.value)

    @expanded.setter
    def expanded(self, value: bool) -> None:
        self.toggle.value = bool(value)

    def _on_toggle(self, change: Any) -> None:
        self._show_body(change["new"])
        self.toggle.description = "hide" if change["new"] else "show"
        self.toggle.icon = "chevron-up" if change["new"] else "chevron-down"
        if change["new"]:
            self._ensure_drawn()

    def _ensure_drawn(self) -> None:
        """Bring the widgets up to the selection (after changes made while collapsed)."""
        if (self.selection.layer, self.selection.neuron) != self._drawn:
            self._draw()
            return
        bars = (self.class_bars, self.readout_bars, self.ablate_bars)
        with self._sync(*bars, self.top_grid, self.bottom_grid):
            self._select_bars()
            self._select_tiles()

    # -- layout ------------------------------------------------------------------------------------------
    def _build_widgets(self, opacity: float, steps: int, expanded: bool) -> None:
        self.header = widgets.HTML(note_html("no SVD neuron selected"))
        self.toggle = widgets.ToggleButton(
            value=expanded,
            description="hide" if expanded else "show",
            icon="chevron-up" if expanded else "chevron-down",
            tooltip="show or hide the dashboard (hidden, it is not redrawn)",
            layout=widgets.Layout(width="auto", flex="0 0 auto"),
        )
        self.toggle.add_class("ddp-dashboard-toggle")
        self.toggle.observe(self._on_toggle, names="value")
        self.title = widgets.HTML(
            note_html(
                "<b>SVD-neuron dashboard</b>: filter, top and bottom images with their signal maps, "
                "class means, readout, ablation, feature visualisation"
            ),
            layout=widgets.Layout(flex="1 1 auto", min_width="0"),
        )
        self.filter = ImageGrid(tile_size=96, title="singular filter")
        self.filter.add_class("ddp-dashboard-filter")
        self.visual = ImageGrid(tile_size=96, title="")  # headed by the HTML line above it
        self.visual.add_class("ddp-dashboard-visual")
        self.visual.layout.display = "none"  # until there is one
        self.steps = widgets.BoundedIntText(
            value=steps,
            min=1,
            max=4096,
            description="steps",
            layout=widgets.Layout(width="130px"),
            style={"description_width": "38px"},
        )
        self.visualize_button = widgets.Button(
            description="visualise",
            icon="eye",
            layout=widgets.Layout(width="110px", flex="0 0 auto"),
            tooltip="optimise an input image that maximises this neuron's mean signal",
        )
        self.visualize_button.on_click(self._on_visualize)
        self.visual_note = widgets.HTML(note_html("press visualise (a few seconds for 64 steps)"))
        self.top_grid = ImageGrid(tile_size=84, title="top pole: largest signal (+ end)")
        self.bottom_grid = ImageGrid(tile_size=84, title="bottom pole: smallest signal (− end)")
        self.top_grid.add_class("ddp-dashboard-top")
        self.bottom_grid.add_class("ddp-dashboard-bottom")
        for grid in (self.top_grid, self.bottom_grid):
            grid.observe(self._on_tile_click, names="selected_index")
        self.opacity = widgets.FloatSlider(
            value=opacity,
            min=0.0,
            max=1.0,
            step=0.05,
            description="map opacity",
            readout_format=".2f",
            style={"description_width": "85px"},
            layout=widgets.Layout(width="320px", flex="0 0 auto"),
            continuous_update=False,
        )
        self.opacity.observe(self._on_opacity, names="value")
        self.map_note = widgets.HTML("")
        self._build_charts()
        self._lay_out()

    def _build_charts(self) -> None:
        self.class_fig, self.class_bars = bar_chart(
            self.class_names, CLASS_SIGNAL_TITLE, CLASS_SIGNAL_Y, "mean signal"
        )
        self.readout_fig, self.readout_bars = bar_chart(
            self.class_names, "readout: Δ logit per unit of signal", "Δ logit", "Δ logit / signal"
        )
        self.readout_note = widgets.HTML("")
        # the readout chart is taken out of the page where there is none (a hidden bqplot figure draws
        # with a negative size), the note stays
        self.readout_box = widgets.VBox(
            [self.readout_note], layout=widgets.Layout(flex="1 1 300px", min_width="260px")
        )
        self.ablate_fig, self.ablate_bars = bar_chart(
            self.class_names, "ablation: Δ accuracy per class", "Δ accuracy", "Δ accuracy"
        )
        self.ablate_button = widgets.Button(
            description="ablate",
            icon="scissors",
            layout=widgets.Layout(width="auto"),
            tooltip="remove σ u vᵀ of this neuron from the weight and rerun the data",
        )
        self.ablate_button.on_click(self._on_ablate)
        self.ablate_note = widgets.HTML("")
        self.progress = widgets.IntProgress(
            value=0,
            min=0,
            max=1,
            description="ablating",
            bar_style="info",
            layout=widgets.Layout(display="none", width="320px"),
        )
        for fig, bars in (
            (self.class_fig, self.class_bars),
            (self.readout_fig, self.readout_bars),
            (self.ablate_fig, self.ablate_bars),
        ):
            fig.add_class("ddp-dashboard-chart")
            bars.observe(self._on_bar_click, names="selected")
        self.class_fig.add_class("ddp-dashboard-class")
        self.readout_fig.add_class("ddp-dashboard-readout")
        self.ablate_fig.add_class("ddp-dashboard-ablation")

    def _lay_out(self) -> None:
        # the ablation chart enters the page once it has numbers (an empty chart is clutter, and a bqplot
        # figure drawn while narrow or hidden keeps a wrong size)
        self.ablate_box = widgets.VBox([], layout=widgets.Layout(width="100%", min_width="260px"))
        half = widgets.Layout(flex="1 1 300px", min_width="260px")  # side by side, stacked when narrow
        vis = widgets.VBox(
            [
                widgets.HTML(note_html("<b>feature visualisation</b> (an input maximising the signal)")),
                self.visual,
                widgets.HBox([self.visualize_button, self.steps]),
                self.visual_note,
            ],
            layout=widgets.Layout(flex="1 1 auto", min_width="0"),
        )
        body = [
            self.header,
            widgets.HBox(
                [self.filter, vis],
                layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start", grid_gap="16px"),
            ),
            widgets.HBox(
                [self.opacity, self.map_note],
                layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
            ),
            widgets.HBox(
                [self.top_grid, self.bottom_grid],
                layout=widgets.Layout(flex_flow="row wrap", grid_gap="12px"),
            ),
            widgets.HBox(
                [widgets.VBox([self.class_fig], layout=half), self.readout_box],
                layout=widgets.Layout(flex_flow="row wrap", width="100%"),
            ),
            widgets.HBox(
                [self.ablate_button, self.progress, self.ablate_note],
                layout=widgets.Layout(flex_flow="row wrap", align_items="center", grid_gap="8px"),
            ),
            self.ablate_box,
            self.export_bar,
        ]
        self.body = widgets.VBox(body, layout=widgets.Layout(min_width="0"))
        self.top_bar = widgets.HBox(
            [self.title, self.toggle], layout=widgets.Layout(align_items="center", width="100%")
        )
        self._show_body(self.toggle.value)

    def _show_body(self, shown: bool) -> None:
        # collapsed, the body is out of the page, not hidden (a hidden bqplot figure draws with a negative
        # size)
        self.children = [self.top_bar, self.body, self.errors] if shown else [self.top_bar, self.errors]

    # -- what is focused ------------------------------------------------------------------------------------
    def _focus(self) -> tuple[str, int] | None:
        name, k = self.selection.layer, self.selection.neuron
        if name is None or k is None or name not in self.profile.layers:
            return None
        return name, int(k)

    def _draw(self) -> None:
        focus = self._focus()
        self.draws += 1
        self._drawn = (self.selection.layer, self.selection.neuron)
        self.ablation = None
        self.visualization = None
        with self._sync(self.filter, self.visual, self.top_grid, self.bottom_grid, self.ablate_bars):
            self.visual.set_images(EMPTY)
            self.visual.layout.display = "none"
            set_bars(self.ablate_fig, self.ablate_bars, np.zeros(len(self.class_names)))
            self.ablate_box.children = []
            if focus is None:
                self._clear(self.selection.layer)
                return
            name, k = focus
            self._draw_header(name, k)
            self._draw_filter(name, k)
            self._draw_poles(name, k)
            self._draw_readout(name, k)
            set_bars(self.class_fig, self.class_bars, np.asarray(self.profile.class_mean(name))[:, k])
            self._select_bars()
        can_ablate = self.data is not None
        self.ablate_button.disabled = not can_ablate
        self.visualize_button.disabled = False
        self.ablate_note.value = note_html(
            "press ablate: remove this neuron from the weight and compare accuracy per class"
            if can_ablate
            else "no data to ablate on: pass data=... (the profiled inputs)"
        )
        self.visual_note.value = note_html(f"press visualise ({self.steps.value} steps)")

    def _clear(self, name: str | None) -> None:
        why = (
            "select an SVD neuron"
            if name is None or name in self.profile.layers
            else f"layer {esc(name)} was not profiled"
        )
        self.header.value = note_html(f"Neuron dashboard: {why}.")
        for grid in (self.filter, self.top_grid, self.bottom_grid):
            grid.set_images(EMPTY)
        self._poles = {"top": np.zeros(0, np.int64), "bottom": np.zeros(0, np.int64)}
        self._base, self._maps = [], None
        for fig, bars in ((self.class_fig, self.class_bars), (self.readout_fig, self.readout_bars)):
            set_bars(fig, bars, np.zeros(len(self.class_names)))
        self.readout_note.value = self.map_note.value = ""
        self.ablate_button.disabled = self.visualize_button.disabled = True

    def _draw_header(self, name: str, k: int) -> None:
        sv = np.asarray(self.profile.singular_values(name), np.float64)
        energy = float(sv[k] ** 2 / np.sum(sv**2)) if np.sum(sv**2) > 0 else float("nan")
        self.header.value = note_html(
            f"<b>{esc(neuron_label(name, k))}</b> · σ = {fmt(float(sv[k]), '.4g')} · "
            f"rank {k + 1} of {sv.size} "
            f"(σ/σ₀ = {fmt(float(sv[k] / sv[0]) if sv[0] else float('nan'))}, "
            f"{fmt(100 * energy, '.2g')}% of Σσ²)"
        )

    def _draw_filter(self, name: str, k: int) -> None:
        svd = self.analysis.svd(name)
        f = svd.singular_filter(k).detach().cpu().numpy()
        info = self.analysis.info(name)
        from ._images import linear_input_shape

        first = info.order == 0 or self.analysis.names.index(name) == 0
        tile, caption = render_filter(f, first_layer=first, spatial=linear_input_shape(self.analysis, name))
        self.filter.set_images(
            tile[None], labels=[caption], tooltips=[f"{name}:{k} · {caption} · blue < 0 < red"]
        )

    # -- the two poles and their maps ----------------------------------------------------------------------
    def _draw_poles(self, name: str, k: int) -> None:
        top, top_s = self.profile.top_images(name, k, self.n_images)
        bottom, bottom_s = self.profile.bottom_images(name, k, self.n_images)
        self._poles = {"top": np.asarray(top, np.int64), "bottom": np.asarray(bottom, np.int64)}
        self._scores = {"top": np.asarray(top_s, np.float64), "bottom": np.asarray(bottom_s, np.float64)}
        both = np.concatenate([self._poles["top"], self._poles["bottom"]])
        self._base = render_images(self.images, both, size=1) if self.images is not None and both.size else []
        self._maps, self._vmax, why = self._compute_maps(name, k, both)
        self.opacity.disabled = self._maps is None  # nothing to lay over the images
        self.map_note.value = (
            colour_bar_html(self._vmax, f"signal map of {esc(name)}:{k}")
            if self._maps is not None
            else note_html(why)
        )
        self._show_poles()

    def _compute_maps(self, name: str, k: int, idx: np.ndarray) -> tuple[np.ndarray | None, float, str]:
        if not idx.size:
            return None, 0.0, "no images ranked for this neuron"
        if self.inputs is None:
            return (
                None,
                0.0,
                "no spatial maps: pass data=... (the profiled inputs as a tensor) to compute them",
            )
        if self.analysis.info(name).kind == "Linear":
            return None, 0.0, "no spatial maps: a Linear layer's signal is one number per image"
        try:
            maps = neurons.maps(self.profiler, name, k, self.inputs[torch.as_tensor(idx)])
        except LayerNotDecomposableError as exc:
            return None, 0.0, f"no spatial maps: {esc(exc)}"
        arr = maps.detach().double().cpu().numpy()
        vmax = float(np.max(np.abs(arr))) if arr.size else 0.0
        return arr, vmax, ""

    def _show_poles(self) -> None:
        tiles = self._base
        if tiles and self._maps is not None:
            tiles = [
                blend_overlay(t, m, self._vmax, self.opacity.value)
                for t, m in zip(tiles, self._maps, strict=True)
            ]
        n_top = self._poles["top"].size
        for pole, grid, part in (
            ("top", self.top_grid, tiles[:n_top]),
            ("bottom", self.bottom_grid, tiles[n_top:]),
        ):
            idx, scores = self._poles[pole], self._scores[pole]
            labs = [
                f"{s:+.2g} " + self._class_of(i) for i, s in zip(idx, scores, strict=True)
            ]  # sign first: never cut
            tips = [
                f"image {i} · {self._class_of(i)} · signal {s:+.3g}" for i, s in zip(idx, scores, strict=True)
            ]
            grid.set_images(stack(part), labels=labs if part else None, tooltips=tips if part else None)
        self._select_tiles()

    def _class_of(self, i: int) -> str:
        return self.class_names[int(self.labels[i])] if self.labels is not None else f"#{i}"

    # -- readout ---------------------------------------------------------------------------------------------
    def _draw_readout(self, name: str, k: int) -> None:
        if name not in self._readouts:
            try:
                self._readouts[name] = neurons.readout(self.profiler, name, class_names=self.class_names)
            except (NotLinearToLogitsError, LayerNotDecomposableError) as exc:
                self._readouts[name] = exc
        r = self._readouts[name]
        if isinstance(r, Exception):
            set_bars(self.readout_fig, self.readout_bars, np.zeros(len(self.class_names)))
            self.readout_box.children = [self.readout_note]
            self.readout_note.value = note_html(f"No weight-space readout for {esc(name)}: {esc(r)}")
            return
        self.readout_box.children = [self.readout_fig, self.readout_note]
        set_bars(self.readout_fig, self.readout_bars, r.loc[k, self.class_names].to_numpy(np.float64))
        self.readout_note.value = note_html(
            "change of each class logit per unit of this neuron's signal (from the weights)"
        )

    # -- actions ---------------------------------------------------------------------------------------------
    def ablate(self) -> Any:
        """Remove the focused neuron (rank-1 ablation) on the data.

        Fills the Δaccuracy chart and returns the table.
        """
        self._ensure_drawn()
        focus = self._focus()
        if focus is None:
            raise ViewError("select a profiled layer and an SVD neuron before ablating")
        if self.data is None:
            raise ViewError("no data to ablate on: build the dashboard with data=... (the profiled inputs)")
        name, k = focus
        self.ablate_button.disabled = True
        self.ablate_note.value = note_html(f"ablating {esc(name)}:{k} …")
        try:
            if isinstance(self.data, (torch.Tensor, np.ndarray)):
                df = self._ablate_in_chunks(name, k)
            else:  # a DataLoader / Dataset: one streaming pass (no count to show progress against)
                df = neurons.ablate(
                    self.profiler,
                    name,
                    [k],
                    self.data,
                    None,
                    batch_size=self.batch_size,
                    class_names=self.class_names,
                    progress=False,
                )
        finally:
            self.progress.layout.display = "none"
            self.ablate_button.disabled = False
        if (
            self._focus() != focus
        ):  # the selection moved meanwhile: do not show this neuron's numbers for another
            return df
        self.ablation = df
        with self._sync(self.ablate_bars):
            set_bars(self.ablate_fig, self.ablate_bars, df["delta_accuracy"].to_numpy(np.float64))
            self._select_bars()
        self.ablate_box.children = [self.ablate_fig]
        a0, a1 = df.attrs["accuracy_before"], df.attrs["accuracy_after"]
        self.ablate_note.value = note_html(
            f"ablated {esc(name)}:{k} on {int(df['n_images'].sum())} images: accuracy {fmt(a0)} → {fmt(a1)} "
            f"(Δ {fmt(a1 - a0, '+.3g')})"
        )
        return df

    def _ablate_in_chunks(self, name: str, k: int) -> Any:
        """neurons.ablate over a tensor in chunks of a few batches.

        Progress is shown; the per-class results are merged.
        """
        x = torch.from_numpy(self.data) if isinstance(self.data, np.ndarray) else self.data
        if self.labels is None:
            raise ViewError("ablation compares predictions with labels: build the dashboard with labels=...")
        y = torch.as_tensor(self.labels)
        n, step = int(x.shape[0]), 4 * self.batch_size
        self.progress.max, self.progress.value, self.progress.layout.display = max(n, 1), 0, None
        parts = []
        for start in range(0, n, step):
            parts.append(
                neurons.ablate(
                    self.profiler,
                    name,
                    [k],
                    x[start : start + step],
                    y[start : start + step],
                    batch_size=self.batch_size,
                    class_names=self.class_names,
                    progress=False,
                )
            )
            self.progress.value = min(start + step, n)
        return merge_ablations(parts)

    def visualize(self) -> Any:
        """Feature visualisation of the focused neuron (`Profiler.visualize`, `steps` steps).

        Shown and returned.
        """
        self._ensure_drawn()
        focus = self._focus()
        if focus is None:
            raise ViewError("select a profiled layer and an SVD neuron before visualising")
        name, k = focus
        steps = int(self.steps.value)
        self.visualize_button.disabled = True
        self.visual_note.value = note_html(f"optimising an image for {esc(name)}:{k} ({steps} steps) …")
        try:
            vis = self.profiler.visualize(name, k, steps=steps, mean=self.mean, std=self.std)
        finally:
            self.visualize_button.disabled = False
        if self._focus() != focus:
            return vis
        self.visualization = vis
        img = np.round(255 * vis.image.clamp(0, 1).permute(1, 2, 0).numpy()).astype(np.uint8)
        self.visual.layout.display = None
        self.visual.set_images(
            (img if img.shape[-1] == 3 else np.repeat(img, 3, -1))[None],
            labels=[f"signal {float(vis.signal):.3g}"],
        )
        self.visual_note.value = note_html(
            f"{steps} steps; objective {fmt(float(vis.history[0]))} → {fmt(float(vis.history[-1]))}"
        )
        return vis

    # -- figures and settings --------------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """Class signal, both poles with their maps, the readout and the last ablation.

        As matplotlib figures.
        """
        self._ensure_drawn()
        focus = self._focus()
        if focus is None:
            return {}
        from .. import figures as figs

        name, k = focus
        stem = f"dashboard_{safe_name(name)}_{k}"
        out = {
            f"{stem}_class_signal": figs.class_signal(
                self.profile, name, k, class_label=self.selection.class_label
            )
        }
        if self._base:
            out[f"{stem}_poles"] = self._poles_figure(name, k)
        r = self._readouts.get(name)
        if r is not None and not isinstance(r, Exception):
            out[f"{stem}_readout"] = bars_figure(
                self.class_names,
                r.loc[k, self.class_names].to_numpy(np.float64),
                f"readout of {name}:{k}",
                "Δ logit per unit of signal",
            )
        if self.ablation is not None:
            out[f"{stem}_ablation"] = bars_figure(
                self.class_names,
                self.ablation["delta_accuracy"].to_numpy(np.float64),
                f"ablating {name}:{k}",
                "Δ accuracy",
            )
        return out

    def snapshot_figures(self) -> dict[str, Any]:
        """What the static snapshot shows: nothing while collapsed (as the live view; no redraw for it)."""
        return self.figures() if self.expanded else {}

    def _poles_figure(self, name: str, k: int) -> Any:
        from matplotlib.figure import Figure

        n_top = self._poles["top"].size
        tiles = [self.top_grid, self.bottom_grid]
        cols = max(n_top, self._poles["bottom"].size, 1)
        fig = Figure(figsize=(0.9 * cols, 2.2), layout="constrained")
        axes = fig.subplots(2, cols, squeeze=False)
        for row, grid in enumerate(tiles):
            shape = grid.shape
            pixels = (
                np.frombuffer(grid.data, np.uint8).reshape(shape) if grid.count else np.zeros((0, 1, 1, 3))
            )
            for j in range(cols):
                ax = axes[row][j]
                ax.axis("off")
                if j < grid.count:
                    ax.imshow(pixels[j])
                    ax.set_title(grid.labels[j] if grid.labels else "", fontsize=6)
        fig.suptitle(
            f"{neuron_label(name, k)}: top (+) and bottom (−) poles, maps ±{fmt(self._vmax)}", fontsize=7
        )
        return fig

    def settings(self) -> dict[str, Any]:
        return {
            "n_images": self.n_images,
            "opacity": float(self.opacity.value),
            "steps": int(self.steps.value),
            "expanded": self.expanded,
        }

    def apply_settings(self, settings: Any) -> None:
        s = check_settings(
            "NeuronDashboard",
            settings,
            {"n_images": int, "opacity": (int, float), "steps": int, "expanded": bool},
        )
        if (
            not 1 <= s.get("n_images", self.n_images) <= 64
            or not 0 <= s.get("opacity", 0.5) <= 1
            or not 1 <= s.get("steps", 1) <= 4096
        ):
            raise ViewError(
                f"NeuronDashboard settings out of range {s}: n_images 1..64, opacity 0..1, steps 1..4096"
            )
        self.n_images = int(s.get("n_images", self.n_images))
        with self._sync():
            self.opacity.value = float(s.get("opacity", self.opacity.value))
            self.steps.value = int(s.get("steps", self.steps.value))
        self._drawn = None  # n_images may have changed: redraw now, or when expanded
        self.expanded = bool(s.get("expanded", self.expanded))  # expanding draws
        if self.expanded and self._drawn is None:
            self._draw()

    # -- selection -> widgets --------------------------------------------------------------------------------
    @callback
    def _on_focus(self, change: Any) -> None:
        if not self.expanded:
            return  # drawn when expanded (_ensure_drawn)
        if (self.selection.layer, self.selection.neuron) == self._drawn:
            return  # e.g. a layer change that also dropped the neuron: one event per trait, one redraw
        self._draw()
        self.clear_errors()

    @callback
    def _on_class(self, change: Any) -> None:
        if not self.expanded:
            return
        with self._sync(self.class_bars, self.readout_bars, self.ablate_bars):
            self._select_bars()

    @callback
    def _on_image(self, change: Any) -> None:
        if not self.expanded:
            return
        with self._sync(self.top_grid, self.bottom_grid):
            self._select_tiles()

    def _select_bars(self) -> None:
        c = self.selection.class_label
        for bars in (self.class_bars, self.readout_bars, self.ablate_bars):
            bars.selected = None if c is None else np.array([c])

    def _select_tiles(self) -> None:
        i = self.selection.image_index
        for pole, grid in (("top", self.top_grid), ("bottom", self.bottom_grid)):
            hit = np.flatnonzero(self._poles[pole] == i) if i is not None else []
            grid.selected_index = int(hit[0]) if len(hit) and hit[0] < grid.count else None

    # -- user interaction -> selection -----------------------------------------------------------------------
    @interaction
    def _on_tile_click(self, change: Any) -> None:
        pole = "top" if change["owner"] is self.top_grid else "bottom"
        j = change["new"]
        if j is None or j >= self._poles[pole].size:
            return
        i = int(self._poles[pole][j])
        with self.selection.hold_trait_notifications():
            self.selection.image_index = i
            if self.labels is not None:
                self.selection.class_label = int(self.labels[i])

    @interaction
    def _on_bar_click(self, change: Any) -> None:
        new = change["new"]
        chosen = [] if new is None else [int(i) for i in np.asarray(new).ravel()]
        self.selection.class_label = chosen[-1] if chosen else None

    @interaction
    def _on_opacity(self, change: Any) -> None:
        with self._sync(self.top_grid, self.bottom_grid):
            self._show_poles()

    @interaction
    def _on_ablate(self, button: Any) -> None:
        self.ablate()

    @interaction
    def _on_visualize(self, button: Any) -> None:
        self.visualize()


def for_explorer(ex: Any) -> NeuronDashboard | None:
    """The Explorer's dashboard: shown only with a profile and the profiled inputs.

    The inputs are ``ex.data`` where the Explorer keeps them; else its images when they are model inputs (a
    float batch the model takes), or, for the embedded default model, its raw pictures normalised as the
    model expects. Candidates are used only when they reproduce the profile's signals (else no dashboard).
    """
    if ex.profile is None or ex.analysis is None:
        return None
    data = getattr(ex, "data", None)
    if data is not None:
        return NeuronDashboard(
            ex.analysis, ex.profile, ex.selection, data, labels=ex.labels, images=ex.images, expanded=False
        )
    candidates = [(model_inputs(ex.analysis, ex.images), {}), default_model_inputs(ex.analysis, ex.images)]
    for inputs, extra in candidates:
        if inputs is None:
            continue
        try:  # images that merely look like inputs (unnormalised, reordered) are not used as data
            return NeuronDashboard(
                ex.analysis,
                ex.profile,
                ex.selection,
                inputs,
                labels=ex.labels,
                images=ex.images,
                expanded=False,
                **extra,
            )
        except ViewArgumentError:
            continue
    return None
