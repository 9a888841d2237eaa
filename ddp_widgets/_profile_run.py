"""One profiling run: batches in, a Profile out; nothing is lost when the model raises or the user interrupts.

Each batch: labels encoded on the class axis, signals of every layer from one forward pass, per-class
statistics updated in place on the signals' device, the dataset indices recorded. An exception raised on
batch b keeps its type and message, gains a note naming b, and carries `exc.partial_profile` (the batches
before b); KeyboardInterrupt returns that partial profile with a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from tqdm.auto import tqdm

from ._classes import IGNORED, ClassAxis
from ._data import Batch, DataPlan
from ._progress import transient_progress
from .core.accumulator import LayerStats
from .core.coverage import IndexCoverage
from .core.errors import DataError, DDPWidgetsWarning
from .core.fingerprint import weights_fingerprint
from .core.layers import model_device
from .profile_record import Profile

if TYPE_CHECKING:
    from .profiling import Profiler


class ProfileRun:
    """The state of one `Profiler.profile` call."""

    def __init__(
        self,
        profiler: Profiler,
        axis: ClassAxis,
        *,
        aggregation: str,
        top_n: int,
        threshold: float,
        calls: str,
        forward: Callable[[Any, Any], Any] | None,
        settings: dict[str, Any],
    ) -> None:
        self.profiler, self.axis = profiler, axis
        self.layers = list(profiler.layers)
        self.aggregation, self.top_n, self.threshold = aggregation, top_n, threshold
        self.calls, self.forward, self.settings = calls, forward, settings
        device = model_device(profiler.model)
        ranks = {n: profiler.analysis.svd(n).rank for n in self.layers}
        self.stats = {n: LayerStats.empty(ranks[n], top_n, axis.n_classes, device) for n in self.layers}
        self.coverage = IndexCoverage()
        self.n_images = self.n_ignored = self.batches_done = 0
        self.fingerprint = weights_fingerprint({n: profiler.analysis.module(n) for n in self.layers})
        self._warned_calls = False
        self._shape: tuple[int, ...] | None = None

    # -- per batch ----------------------------------------------------------------------------------
    def add(self, batch: Batch) -> None:
        self._shape = tuple(batch.inputs.shape) if isinstance(batch.inputs, torch.Tensor) else None
        y = self.axis.encode(batch.labels, batch.size)
        sig = self.profiler._run(
            batch.inputs, self.layers, self.aggregation, False, calls=self.calls, forward=self.forward
        )
        self._warn_calls(sig.calls)
        for n in self.layers:
            if sig[n].shape[0] != batch.size:
                raise DataError(
                    f"layer '{n}' saw {sig[n].shape[0]} samples for a batch of {batch.size} inputs: "
                    f"profiling needs layers that keep the batch dimension"
                )
        self.coverage.add(batch.indices.numpy())
        keep = y != IGNORED
        kept = int(keep.sum())
        for n, stats in self.stats.items():
            stats.grow(self.axis.n_classes)
            if kept:
                dev = stats.sum.device
                k = keep.to(dev)
                stats.update(sig[n][k], y.to(dev)[k], batch.indices.to(dev)[k], self.threshold)
        self.n_images += kept
        self.n_ignored += batch.size - kept
        self.batches_done += 1

    def _warn_calls(self, calls: dict[str, int]) -> None:
        many = {n: c for n, c in calls.items() if c > 1}
        if many and self.calls == "first" and not self._warned_calls:
            self._warned_calls = True
            listed = ", ".join(f"'{n}' ({c}×)" for n, c in list(many.items())[:4])
            warnings.warn(
                f"module(s) {listed} ran several times per forward pass: only the first call is profiled; "
                f"pass calls='all' to pool every call's positions",
                DDPWidgetsWarning,
                stacklevel=4,
            )

    # -- results ------------------------------------------------------------------------------------
    def result(self, complete: bool = True, check_classes: bool = True) -> Profile:
        names, order = self.axis.names(check=check_classes)
        stats = {}
        for n, s in self.stats.items():
            s = s.compact(copy=False)
            if order is not None:
                s.permute_classes(order)
            s.grow(len(names))
            stats[n] = s.compact(copy=False)
        sv = {n: self.profiler.analysis.svd(n).values.detach().cpu().double().numpy() for n in self.layers}
        meta = {
            "aggregation": self.aggregation,
            "threshold": self.threshold,
            "top_n": self.top_n,
            "n_images": self.n_images,
            "n_ignored": self.n_ignored,
            "calls": self.calls,
            "model": type(self.profiler.model).__name__,
            "fingerprint": self.fingerprint,
            "class_names_given": self.axis.given is not None,
            "complete": complete,
            "n_batches": self.batches_done,
            **self.settings,
        }
        return Profile(self.layers, names, stats, sv, meta, self.coverage.ranges())

    def partial(self) -> Profile | None:
        if not self.batches_done:
            return None
        try:
            return self.result(complete=False, check_classes=False)
        except Exception:  # noqa: BLE001 - a partial profile is a courtesy; the original error matters
            return None

    def execute(
        self,
        plan: DataPlan,
        max_batches: int | None,
        progress: bool,
        allow_empty: bool,
        check_classes: bool = True,
    ) -> Profile:
        shown = transient_progress(progress, "profiled")  # no progress widget left in a saved notebook
        bar = tqdm(
            total=plan.total, desc="profiling", unit="batch", delay=0.5, disable=not progress, leave=False
        )
        b = 0
        try:
            for b, batch in enumerate(plan.batches):
                if max_batches is not None and b >= max_batches:
                    break
                self.add(batch)
                bar.update(1)
        except KeyboardInterrupt:
            partial = self.partial()
            if partial is None:
                raise
            warnings.warn(
                f"profiling interrupted after {self.batches_done} batch(es) ({self.n_images} images): "
                f"returning the partial profile (profile.meta['complete'] is False)",
                DDPWidgetsWarning,
                stacklevel=3,
            )
            return partial
        except Exception as exc:
            self._attach(exc, b)
            raise
        finally:
            bar.close()
            shown.close()
        if self.batches_done == 0 and not allow_empty:
            raise DataError("the dataset is empty: no batch was produced, so there is nothing to profile")
        try:
            profile = self.result(check_classes=check_classes)
        except DataError as exc:
            self._attach(exc, None)
            raise
        self._warn_nonfinite(profile)
        return profile

    def _attach(self, exc: BaseException, b: int | None) -> None:
        partial = self.partial()
        exc.partial_profile = partial  # type: ignore[attr-defined]
        exc.batch_index = b  # type: ignore[attr-defined]
        done = (
            f"the {self.batches_done} batch(es) before it are in exc.partial_profile"
            if partial
            else "no batch was done"
        )
        where = f"while profiling batch {b}" if b is not None else "after profiling"
        if hasattr(exc, "add_note"):
            exc.add_note(f"(ddp-widgets: raised {where}; {done})")
            probed = (
                self.profiler.analysis.layers[0].input_shape
                if self.profiler.analysis.layers[0].order == 0
                else None
            )
            if probed is not None and self._shape is not None and tuple(probed[1:]) != self._shape[1:]:
                exc.add_note(
                    f"(the model was probed with inputs of shape {tuple(probed)}; this batch has shape "
                    f"{self._shape})"
                )

    def _warn_nonfinite(self, profile: Profile) -> None:
        bad = {n: int(profile.nonfinite_counts(n).sum()) for n in profile.layers}
        bad = {n: c for n, c in bad.items() if c}
        if bad:
            listed = ", ".join(f"'{n}' ({c})" for n, c in list(bad.items())[:4])
            warnings.warn(
                f"NaN/Inf SVD-neuron signals in layer(s) {listed}: they are left out of the statistics and "
                f"rankings; see profile.nonfinite_counts(layer)",
                DDPWidgetsWarning,
                stacklevel=3,
            )


def cast_inputs(x: Any, dtype: torch.dtype, device: torch.device) -> Any:
    """Floating tensors to the model's dtype and device; integer tensors keep their dtype (token ids)."""
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=dtype) if x.is_floating_point() else x.to(device)
    if isinstance(x, dict):
        return {k: cast_inputs(v, dtype, device) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(cast_inputs(v, dtype, device) for v in x)
    return x
