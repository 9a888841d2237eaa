"""Tick values for bqplot axes: a few round numbers (bqplot's own ticks crowd small figures)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["log_ticks", "nice_ticks"]


def nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """About n round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return np.zeros(0)
    if hi <= lo:
        return np.array([lo])
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    ticks = np.arange(math.ceil(lo / step - 1e-9) * step, hi + step * 1e-9, step)
    return np.round(ticks, 12)


def log_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """Tick values for a log axis on [lo, hi]: powers of ten when it spans decades, else n round values."""
    if not (lo > 0 and hi > lo):
        return np.array([lo, hi]) if lo > 0 else np.zeros(0)
    decades = np.arange(math.ceil(math.log10(lo)), math.floor(math.log10(hi)) + 1)
    if decades.size >= 3:
        step = math.ceil(decades.size / n)
        return 10.0 ** decades[::step]
    ticks = np.geomspace(lo, hi, n)
    digits = np.floor(np.log10(ticks))
    rounded = np.round(ticks / 10**digits, 1) * 10**digits  # two significant digits
    return np.unique(rounded[(rounded >= lo * 0.999) & (rounded <= hi * 1.001)])
