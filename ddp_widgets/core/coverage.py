"""Which dataset indices a profile covers: a set of images kept as sorted, disjoint [start, stop) ranges."""

from __future__ import annotations

import numpy as np

from .errors import DataError

MAX_INDEX = (
    2**40
)  # dataset indices beyond this are refused (a bitmap of the seen images grows to the largest)


class IndexCoverage:
    """Streaming record of the dataset indices seen; refuses an index seen twice."""

    def __init__(self) -> None:
        self._seen = np.zeros(0, dtype=bool)

    def add(self, indices: np.ndarray) -> None:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            return
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= MAX_INDEX:
            raise DataError(
                f"dataset index {lo if lo < 0 else hi} is out of range: indices must lie in "
                f"0..{MAX_INDEX - 1}"
            )
        if hi >= self._seen.size:
            grown = np.zeros(max(hi + 1, 2 * self._seen.size), dtype=bool)
            grown[: self._seen.size] = self._seen
            self._seen = grown
        uniq = np.unique(idx)
        dup = self._seen[uniq]
        if uniq.size != idx.size or dup.any():
            repeated = (
                int(uniq[dup][0])
                if dup.any()
                else int(np.sort(idx)[np.flatnonzero(np.diff(np.sort(idx)) == 0)[0]])
            )
            raise DataError(
                f"image {repeated} was seen twice: every image must be profiled once (a sampler with "
                "replacement, or DistributedSampler's padding, repeats images; profile the dataset itself, "
                "or use shard=...)"
            )
        self._seen[idx] = True

    def ranges(self) -> np.ndarray:
        return mask_to_ranges(self._seen)


def mask_to_ranges(mask: np.ndarray) -> np.ndarray:
    """(k, 2) int64 [start, stop) runs of True."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(m))
    return edges.reshape(-1, 2).astype(np.int64)


def normalize_ranges(ranges: np.ndarray) -> np.ndarray:
    """Sorted, coalesced ranges (adjacent ones joined); assumes no overlap."""
    r = np.asarray(ranges, dtype=np.int64).reshape(-1, 2)
    r = r[r[:, 1] > r[:, 0]]
    if r.shape[0] == 0:
        return r
    r = r[np.argsort(r[:, 0], kind="stable")]
    keep = [r[0].copy()]
    for start, stop in r[1:]:
        if start <= keep[-1][1]:
            keep[-1][1] = max(keep[-1][1], stop)
        else:
            keep.append(np.array([start, stop]))
    return np.stack(keep).astype(np.int64)


def first_overlap(a: np.ndarray, b: np.ndarray) -> tuple[int, int] | None:
    """The first [start, stop) shared by two range sets, or None."""
    for s1, e1 in np.asarray(a).reshape(-1, 2):
        hit = (b[:, 0] < e1) & (b[:, 1] > s1) if len(b) else np.zeros(0, bool)
        if hit.any():
            s2, e2 = b[np.flatnonzero(hit)[0]]
            return int(max(s1, s2)), int(min(e1, e2))
    return None


def ranges_size(ranges: np.ndarray) -> int:
    r = np.asarray(ranges).reshape(-1, 2)
    return int((r[:, 1] - r[:, 0]).sum())
