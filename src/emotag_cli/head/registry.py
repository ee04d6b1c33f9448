"""The head models ``--head-model`` can name: one registry, used by every stage.

A head model is a name, a loader and the track-config fields that name its files. Every stage
loads a head model through ``head_model_of(settings)`` — settings being a TrackConfig or the
``config`` a track manifest records — and records it with ``head_model_record``. Adding one is a
module that builds a ``HeadModel`` and one ``register_head_model`` call at the end of this file::

    register_head_model(HeadModelKind(
        "bfm", "Basel Face Model 2019 (the user's h5)", files=("bfm_model",),   # TrackConfig fields
        load=lambda bfm_model: _module("bfm_h5").load_bfm(bfm_model)))

(a new file option also needs its TrackConfig field and ``emotag track`` option).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifact import file_sha256
from ..errors import EmotagError
from ..registry import Registry
from .model import HeadModel


@dataclass(frozen=True)
class HeadModelKind:
    """One ``--head-model`` choice.

    name: what configs and the CLI call it. summary: one line for help and docs.
    files: the track-config fields (paths of the user's files, or None: searched for) its loader
        takes as keyword arguments. load(**files) → HeadModel; raises MissingBackendError when the
        files are absent.
    """

    name: str
    summary: str
    load: Callable[..., HeadModel]
    files: tuple[str, ...] = ()


_KINDS: Registry[HeadModelKind] = Registry("head model")


def register_head_model(kind: HeadModelKind) -> HeadModelKind:
    """Make ``kind`` available under its name (a second registration of a name is an error)."""
    return _KINDS.register(kind.name, kind)


def head_model_names() -> tuple[str, ...]:
    """The registered names, the default first."""
    return _KINDS.names()


def head_model_kind(name: str) -> HeadModelKind:
    """The kind called ``name``; a one-line error naming the choices for any other name."""
    return _KINDS[name]


def load_head_model(kind: str = "open", **files: str | Path | None) -> HeadModel:
    """The head model ``kind``, from the given files (None: searched for where the loader looks).
    Raises MissingBackendError when a model's files are absent (FLAME's are the user's)."""
    entry = head_model_kind(kind)
    unknown = set(files) - set(entry.files)
    if unknown:
        raise EmotagError(f"head model {kind} takes no {', '.join(sorted(unknown))}")
    return entry.load(**files)


def head_model_settings(settings: Any) -> dict[str, Any]:
    """{"head_model": name, <its file fields>: value} of a TrackConfig or a recorded track config
    (a mapping): how an artifact says which head model to load again."""
    get = settings.get if isinstance(settings, Mapping) else lambda key, default=None: getattr(settings, key, default)
    name = get("head_model") or "open"
    return {"head_model": name, **{f: get(f) for f in head_model_kind(name).files}}


def head_model_of(settings: Any) -> HeadModel:
    """The head model a TrackConfig, or a recorded track config (a mapping), names."""
    record = head_model_settings(settings)
    return load_head_model(record.pop("head_model"), **record)


def head_model_record(model: HeadModel) -> dict[str, Any]:
    """How a manifest names the head model (and pins the files it came from)."""
    record: dict[str, Any] = {"id": model.id, "n_vertices": model.n_vertices, "n_shape": model.n_shape,
                              "n_expr": model.n_expr, "n_landmarks": model.n_landmarks,
                              "landmark_scheme": model.meta.get("landmark_scheme", "mediapipe")}
    for key in ("source", "embedding"):
        path = model.meta.get(key)
        if path and Path(path).is_file():
            record[key] = {"path": str(path), "sha256": file_sha256(Path(path))}
    return record


# ---------------------------------------------------------------- the built-in head models


def _module(name: str):
    """A built-in model's module, imported on first use."""
    return importlib.import_module(f"{__package__}.{name}")


register_head_model(HeadModelKind(
    "open", "the open head model shipped with emotag",
    load=lambda: _module("open_model").load_open_model()))
register_head_model(HeadModelKind(
    "flame", "FLAME from the user's files (generic_model.pkl / flame2023_Open.pkl + landmark embedding)",
    files=("flame_model", "flame_embedding"),
    load=lambda flame_model=None, flame_embedding=None: _module("flame_pkl").load_flame(flame_model, flame_embedding)))
