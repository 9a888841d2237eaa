"""The profile file: one `.npz` (no pickle) holding the arrays and a JSON metadata member, written atomically.

Layout (format 2): `meta` (a JSON string), `index_ranges` (k, 2) int64, and per layer i:
`layers/<i>/singular_values` (R,) float64 and `layers/<i>/<field>` for every LayerStats field. The metadata
carries a SHA-256 checksum of everything else, so a truncated, corrupt or edited file is refused on load
with a ProfileFileError that names the problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .accumulator import CLASS_FIELDS, INT_FIELDS, RANK_FIELDS
from .errors import ProfileFileError, ProfileFileNotFoundError

FORMAT_VERSION = 2
SUFFIX = ".npz"
REQUIRED_META: dict[str, type | tuple[type, ...]] = {
    "format": int,
    "layers": list,
    "class_names": list,
    "ranks": list,
    "aggregation": str,
    "threshold": (int, float),
    "top_n": int,
    "n_images": int,
    "n_ignored": int,
    "fingerprint": str,
    "checksum": str,
}


def profile_path(path: str | os.PathLike) -> Path:
    """The file a profile named `path` lives in: `.npz` appended unless the name already ends with it."""
    if not isinstance(path, (str, os.PathLike)):
        raise ProfileFileError(f"a profile path must be a str or Path, got {type(path).__name__}")
    p = Path(path)
    if str(path).endswith(("/", os.sep)) or p.is_dir():
        raise ProfileFileError(f"{str(path)!r} is a directory: give a file name, e.g. {str(p / 'profile')!r}")
    return p if p.name.endswith(SUFFIX) else p.with_name(p.name + SUFFIX)


def _plain(value: Any) -> Any:
    """JSON-ready copies of numpy scalars/arrays, tuples and paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def checksum(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str:
    h = hashlib.sha256(
        json.dumps({k: v for k, v in meta.items() if k != "checksum"}, sort_keys=True).encode()
    )
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def write_profile(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write atomically: a temporary file in the same folder, renamed over the target only when complete."""
    target = profile_path(path)
    if not target.parent.is_dir():
        raise ProfileFileError(
            f"cannot save to {str(target)!r}: the folder {str(target.parent)!r} does not exist"
        )
    meta = _plain({**meta, "format": FORMAT_VERSION})
    try:
        meta["checksum"] = checksum(arrays, meta)
        text = json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ProfileFileError(
            f"the profile's metadata cannot be written as JSON ({exc}); nothing was written"
        ) from exc
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **{"meta": np.array(text), **arrays})  # type: ignore[arg-type]
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_profile(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and metadata of a profile file, after checking its format, layout and checksum."""
    target = profile_path(path)
    if not target.is_file():
        raise ProfileFileNotFoundError(f"no profile file at {str(target)!r}")
    try:
        with np.load(target, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise ProfileFileError(
            f"{str(target)!r} is not a readable profile file (truncated or corrupt?): {exc}"
        ) from exc
    if "meta" not in arrays:
        raise ProfileFileError(f"{str(target)!r} has no 'meta' member: it is not a ddp-widgets profile")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except ValueError as exc:
        raise ProfileFileError(f"the metadata of {str(target)!r} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise ProfileFileError(f"the metadata of {str(target)!r} is not a JSON object")
    if meta.get("format") != FORMAT_VERSION:
        raise ProfileFileError(
            f"{str(target)!r} is profile format {meta.get('format')!r}; this ddp-widgets reads format "
            f"{FORMAT_VERSION}: profile the data again with this version"
        )
    check_layout(arrays, meta, str(target))
    if checksum(arrays, meta) != meta["checksum"]:
        raise ProfileFileError(
            f"{str(target)!r} was modified after it was written (checksum mismatch): profile again"
        )
    return arrays, meta


def _fail(where: str, problem: str) -> None:
    raise ProfileFileError(f"{where}: {problem}")


def check_layout(arrays: dict[str, np.ndarray], meta: dict[str, Any], where: str = "profile") -> None:
    """Every metadata field has its type, and every array the shape and dtype the metadata implies."""
    for key, kind in REQUIRED_META.items():
        if key not in meta:
            _fail(where, f"metadata field {key!r} is missing")
        if isinstance(meta[key], bool) or not isinstance(meta[key], kind):
            _fail(where, f"metadata field {key!r} has the wrong type ({type(meta[key]).__name__})")
    layers, names, ranks = meta["layers"], meta["class_names"], meta["ranks"]
    if not layers or not all(isinstance(n, str) for n in layers) or len(set(layers)) != len(layers):
        _fail(where, "'layers' must be a non-empty list of unique layer names")
    if not names or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        _fail(where, "'class_names' must be a non-empty list of unique strings")
    if len(ranks) != len(layers) or not all(isinstance(r, int) and r > 0 for r in ranks):
        _fail(where, "'ranks' must give one positive rank per layer")
    c, n = len(names), meta["top_n"]
    expected: dict[str, tuple[tuple[int | None, ...], str]] = {"index_ranges": ((None, 2), "int64")}
    for i, r in enumerate(ranks):
        expected[f"layers/{i}/singular_values"] = ((r,), "float64")
        for f in CLASS_FIELDS:
            expected[f"layers/{i}/{f}"] = (
                (c,) if f == "count" else (c, r),
                "int64" if f in INT_FIELDS else "float64",
            )
        for f in RANK_FIELDS:
            expected[f"layers/{i}/{f}"] = ((n, r), "int64" if f in INT_FIELDS else "float64")
    extra = sorted(set(arrays) - set(expected))
    if extra:
        _fail(where, f"unexpected array(s) {', '.join(extra[:3])}")
    for key, (shape, dtype) in expected.items():
        if key not in arrays:
            _fail(where, f"array {key!r} is missing")
        a = arrays[key]
        if (
            a.dtype != np.dtype(dtype)
            or a.ndim != len(shape)
            or any(s is not None and s != d for s, d in zip(shape, a.shape))
        ):
            _fail(
                where,
                f"array {key!r} is {a.dtype}{a.shape}, expected {dtype}{shape} from the metadata "
                f"({c} classes, top_n {n}, ranks {ranks})",
            )
    for i in range(len(layers)):
        if int(arrays[f"layers/{i}/count"].sum()) != meta["n_images"]:
            _fail(
                where,
                f"layer {layers[i]!r} counts {int(arrays[f'layers/{i}/count'].sum())} images, the metadata "
                f"{meta['n_images']}",
            )
