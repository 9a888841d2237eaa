"""Tick values for bqplot axes: a few round numbers (bqplot's own ticks crowd small figures or leave
two ticks on a short range). Every axis gets at least `n - 1` round ticks where its range allows."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["TICK_FORMAT", "log_ticks", "nice_ticks"]

TICK_FORMAT = "~g"  # d3-format: round numbers as written ("0.02", "100", "1e-7"), no trailing zeros

_STEPS = (1.0, 2.0, 2.5, 5.0)


def nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """Round ticks (steps of 1, 2, 2.5 or 5 times a power of ten) inside [lo, hi]: at least n - 1 of them,
    as close to n as the steps allow (2.5 only where 1, 2 and 5 do not fit)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return np.zeros(0)
    if hi <= lo:
        return np.array([lo])
    want = max(n - 1, 2)
    mag = 10.0 ** math.floor(math.log10((hi - lo) / want))
    best: tuple[float, np.ndarray] | None = None
    for m in _STEPS:
        for f in (0.1, 1.0, 10.0):
            step = m * mag * f
            ticks = np.arange(math.ceil(lo / step - 1e-9) * step, hi + step * 1e-9, step)
            if ticks.size < want:
                continue
            score = abs(ticks.size - n) + (1.5 if m == 2.5 else 0.0)
            if best is None or score < best[0]:
                best = (score, ticks)
    return np.round(best[1] if best is not None else np.linspace(lo, hi, n), 12)


def log_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """Ticks for a log axis on [lo, hi]: powers of ten when it spans n - 1 decades or more, else the
    1-3, 1-2-5 or 1-2-3-5 values of each decade inside it (the first set giving n - 1 to 2n ticks)."""
    if not (lo > 0 and hi > lo and math.isfinite(hi)):
        return np.array([lo, hi]) if lo > 0 and math.isfinite(lo) else np.zeros(0)
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    decades = 10.0 ** np.arange(first, last + 1)
    inside = decades[(decades >= lo * (1 - 1e-9)) & (decades <= hi * (1 + 1e-9))]
    if inside.size >= n - 1:
        step = math.ceil(inside.size / (n + 1))
        return inside[::step]
    for mantissas in ((1, 3), (1, 2, 5), (1, 2, 3, 5), (1, 1.5, 2, 3, 4, 5, 7)):
        ticks = np.array([m * d for d in decades for m in mantissas])
        ticks = ticks[(ticks >= lo * (1 - 1e-9)) & (ticks <= hi * (1 + 1e-9))]
        if n - 1 <= ticks.size <= 2 * n:
            return np.round(ticks, 12)
    return nice_ticks(lo, hi, n)  # a very short range: linear round ticks
