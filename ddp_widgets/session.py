"""Saved explorations: the selection, every view's settings and the profile, in one folder, no pickle.

    explorer.save("my_exploration")                           # a folder
    explorer = ddp_widgets.explore(model, session="my_exploration")

The folder holds ``session.json`` (versioned: format name, version, the model's layer names and a
fingerprint of their weights, the selection, each view's settings, a SHA-256 of every file) and the profile
as `Profile.save` writes it (under ``profile/``). Loading validates all of it and raises `SessionError`
with what to do: a corrupt or edited file, another format version, or a session of other weights.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .core.errors import DDPWidgetsError, SessionError

__all__ = ["FORMAT", "VERSION", "Session", "load_session", "save_session", "weights_fingerprint"]

FORMAT, VERSION = "ddp-widgets-session", 1
INDEX = "session.json"
_KEYS = {
    "format": str,
    "version": int,
    "created": str,
    "ddp_widgets": str,
    "model": dict,
    "selection": dict,
    "views": dict,
    "profile": (str, type(None)),
    "files": dict,
    "checksum": str,
}


def weights_fingerprint(analysis: Any) -> str:
    """SHA-256 over the names, shapes and bytes of the decomposable layers' weights (float64, CPU)."""
    digest = hashlib.sha256()
    for name in analysis.names:
        weight = analysis.module(name).weight.detach().to("cpu").double().contiguous()
        digest.update(name.encode())
        digest.update(str(tuple(weight.shape)).encode())
        digest.update(weight.numpy().tobytes())
    return digest.hexdigest()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _checksum(record: Mapping[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# -- writing ---------------------------------------------------------------------------------------------
def save_session(explorer: Any, path: str | Path) -> Path:
    """Write the explorer's selection, view settings and profile into the folder `path` (replaced whole)."""
    from . import __version__

    if explorer.analysis is None:
        raise SessionError(
            "this explorer has no model to save (it shows an error): open one with explore(model)"
        )
    folder = Path(path)
    if folder.exists() and (
        not folder.is_dir() or (any(folder.iterdir()) and not (folder / INDEX).is_file())
    ):
        raise SessionError(f"{folder} exists and is not a saved exploration: choose a new or empty folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".session-", dir=folder.parent))
    try:
        profile_path = None
        if explorer.profile is not None:
            (tmp / "profile").mkdir()
            written = Path(explorer.profile.save(tmp / "profile" / "profile"))
            profile_path = written.relative_to(tmp).as_posix()
        files = {p.relative_to(tmp).as_posix(): _sha(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        record = {
            "format": FORMAT,
            "version": VERSION,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "ddp_widgets": __version__,
            "model": {
                "layers": list(explorer.analysis.names),
                "fingerprint": weights_fingerprint(explorer.analysis),
            },
            "selection": explorer.selection.to_dict(),
            "views": {name: view.settings() for name, view in explorer.views_by_name.items()},
            "profile": profile_path,
            "files": files,
        }
        record["checksum"] = _checksum(record)
        (tmp / INDEX).write_text(json.dumps(record, indent=1, ensure_ascii=False))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)  # atomic on one file system: a reader never sees half a session
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


# -- reading ---------------------------------------------------------------------------------------------
@dataclass
class Session:
    """A loaded, validated session; `apply(explorer)` restores it on an explorer of the same model."""

    path: Path
    record: dict[str, Any]
    profile: Any = None
    problems: list[str] = field(default_factory=list)

    @property
    def selection(self) -> dict[str, Any]:
        return dict(self.record["selection"])

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self.record["views"].items()}

    def check_model(self, analysis: Any) -> None:
        """Raise SessionError unless `analysis` is the model (layer names and weights) the session
        describes."""
        saved = self.record["model"]
        if list(analysis.names) != list(saved["layers"]):
            raise SessionError(
                f"{self.path} was saved for a model with layers {saved['layers'][:6]}..., but this model has "
                f"{list(analysis.names)[:6]}...: open it with the model it was saved from"
            )
        if weights_fingerprint(analysis) != saved["fingerprint"]:
            raise SessionError(
                f"{self.path} was saved for other weights of this architecture (the fingerprints differ): "
                "its profile would describe a different model. Load the same checkpoint, or profile this "
                "model anew"
            )

    def apply(self, explorer: Any) -> None:
        """Restore the selection and every view's settings on `explorer` (checked against its model first)."""
        self.check_model(explorer.analysis)
        unknown = sorted(set(self.record["views"]) - set(explorer.views_by_name))
        if unknown:
            raise SessionError(
                f"{self.path} has settings of views {unknown} that this explorer does not show "
                f"(it shows {sorted(explorer.views_by_name)}): was it saved with a profile?"
            )
        for name, settings in self.record["views"].items():
            try:
                explorer.views_by_name[name].apply_settings(settings)
            except DDPWidgetsError as exc:
                raise SessionError(
                    f"{self.path}: the settings of view {name!r} cannot be restored: {exc}"
                ) from exc
        try:
            explorer.selection.select(**self.record["selection"])
        except (DDPWidgetsError, ValueError, TypeError) as exc:
            raise SessionError(f"{self.path}: the saved selection does not fit this model: {exc}") from exc


def _read_record(folder: Path) -> dict[str, Any]:
    index = folder / INDEX if folder.is_dir() else folder
    if not index.is_file():
        raise SessionError(
            f"no saved exploration at {folder} (no {INDEX}): write one with explorer.save(path)"
        )
    try:
        record = json.loads(index.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SessionError(f"{index} is corrupt (not valid JSON: {exc}): save the exploration again") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise SessionError(
            f"{index} is not a ddp-widgets session (format "
            f"{record.get('format') if isinstance(record, dict) else None!r})"
        )
    if record.get("version") != VERSION:
        raise SessionError(
            f"{index} is session format version {record.get('version')!r}; this ddp-widgets reads "
            f"version {VERSION}: save it again with this version"
        )
    for key, kind in _KEYS.items():
        if not isinstance(record.get(key), kind):
            raise SessionError(
                f"{index} is invalid: {key!r} is missing or not a {getattr(kind, '__name__', kind)}"
            )
    return record


def load_session(path: str | Path, *, verify: bool = True) -> Session:
    """Read and validate a saved exploration (the folder, or its session.json).

    verify=True (default) also rejects a session whose files changed after it was written (SHA-256 of the
    index and of every file); verify=False accepts hand-edited sessions that are still valid.
    """
    from .profiling import Profile

    given = Path(path)
    folder = given.parent if given.name == INDEX else given
    record = _read_record(folder)
    if verify and _checksum(record) != record["checksum"]:
        raise SessionError(
            f"{folder / INDEX} was changed after it was written (checksum mismatch): save the "
            "exploration again, or load it with load_session(path, verify=False)"
        )
    for name, digest in record["files"].items():
        file = folder / name
        if not file.is_file():
            raise SessionError(f"{folder} is incomplete: {name} is missing: save the exploration again")
        if verify and _sha(file) != digest:
            raise SessionError(
                f"{file} was changed or corrupted after the session was written (SHA-256 mismatch): "
                "save the exploration again"
            )
    profile = None
    if record["profile"] is not None:
        try:
            profile = Profile.load(folder / record["profile"])
        except Exception as exc:
            raise SessionError(
                f"the profile of {folder} cannot be read ({type(exc).__name__}: {exc}): "
                "save the exploration again"
            ) from exc
    return Session(folder, record, profile)
