"""Emotion directions: per teacher class, a direction in a head model's motion space.

The motion space is the motion network's δ: the head model's expression coefficients followed by
the jaw's axis-angle (50 + 3 for the open model and FLAME). A direction file says, for each class
it has (a subset of angry, disgust, fear, happy, sad, surprise), a unit direction ``E_k [53]`` and
a natural magnitude ``m_k``: ``m_k · E_k`` is the mean change real faces make from neutral to that
emotion (``scripts/build_emotion_directions.py``; docs/reference/emotion-and-identity.md).

Directions belong to the head model they were estimated in: its id and the SHA-256 of its file
are part of the file, and a model with another id or file is refused. The shipped file,
``assets/emotion_directions.json``, goes with the shipped open head model.

The file is JSON (small, readable): ``{"kind": "emotion-directions", "version", "head_model":
{"id", "sha256"}, "emotions": [...], "directions": [[53 floats] per emotion], "magnitude": [...],
"provenance": {...}}``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EmotagError

KIND = "emotion-directions"
VERSION = 1
ASSET = "emotion_directions.json"
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise")   # the teacher's non-neutral classes


def shipped_directions_path() -> Path:
    return Path(str(resources.files("emotag_cli") / "assets" / ASSET))


@dataclass(frozen=True)
class EmotionDirections:
    """emotions: class names; directions ``[K, D]`` unit rows; magnitude ``[K]`` (motion-space units:
    expression coefficients in standard deviations, jaw in radians)."""

    head_model: str
    head_model_sha256: str | None
    emotions: tuple[str, ...]
    directions: np.ndarray
    magnitude: np.ndarray
    version: int = VERSION
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [e for e in self.emotions if e not in CLASSES]
        if unknown:
            raise EmotagError(f"emotion directions: unknown classes {unknown} (known: {', '.join(CLASSES)})")
        if self.directions.shape[0] != len(self.emotions) or self.magnitude.shape != (len(self.emotions),):
            raise EmotagError(f"emotion directions: {len(self.emotions)} emotions but directions "
                              f"{self.directions.shape} and magnitudes {self.magnitude.shape}")

    @property
    def name(self) -> str:
        """How messages name this set: 'emotion directions v1 for head model open (sha256 1a2b3c4d5e6f…)'."""
        return f"emotion directions v{self.version} for {_model_name(self.head_model, self.head_model_sha256)}"

    def index(self, emotion: str) -> int:
        """Row of ``emotion``; an emotion without a direction is refused naming the ones there are."""
        if emotion not in self.emotions:
            raise EmotagError(f"the head model's emotion directions have no {emotion!r}; they have: "
                              f"{', '.join(self.emotions)} (and neutral)")
        return self.emotions.index(emotion)

    def check_head_model(self, head_model: str, sha256: str | None) -> None:
        """Refuse use with another head model (id, or the file's SHA-256 when both are known)."""
        if head_model != self.head_model or (None not in (sha256, self.head_model_sha256)
                                             and sha256 != self.head_model_sha256):
            raise EmotagError(f"{self.name} do not belong to {_model_name(head_model, sha256)}; rebuild them "
                              "with scripts/build_emotion_directions.py on scenes tracked with this head model")

    def record(self) -> dict[str, Any]:
        """Plain-value form (what a motion config and a file hold; provenance only in the file)."""
        return {"kind": KIND, "version": self.version,
                "head_model": {"id": self.head_model, "sha256": self.head_model_sha256},
                "emotions": list(self.emotions),
                "directions": [[round(float(x), 7) for x in row] for row in self.directions],
                "magnitude": [round(float(x), 6) for x in self.magnitude]}

    @classmethod
    def from_record(cls, record: dict[str, Any], source: str = "emotion directions") -> EmotionDirections:
        if record.get("kind") != KIND:
            raise EmotagError(f"{source}: not an emotion-directions file (kind {record.get('kind')!r})")
        if record.get("version") != VERSION:
            raise EmotagError(f"{source}: emotion directions version {record.get('version')} — this emotag reads "
                              f"version {VERSION}; rebuild them with scripts/build_emotion_directions.py")
        try:
            model = record["head_model"]
            return cls(model["id"], model.get("sha256"), tuple(record["emotions"]),
                       np.asarray(record["directions"], np.float64), np.asarray(record["magnitude"], np.float64),
                       int(record["version"]), record.get("provenance", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise EmotagError(f"{source}: malformed emotion directions ({exc})") from None

    def sha256(self) -> str:
        """Digest of the record (what identifies this set inside a prior's manifest)."""
        return hashlib.sha256(json.dumps(self.record(), sort_keys=True).encode()).hexdigest()


def _model_name(head_model: str, sha256: str | None) -> str:
    return f"head model {head_model}" + (f" (sha256 {sha256[:12]}…)" if sha256 else "")


def load_emotion_directions(path: str | Path | None = None) -> EmotionDirections:
    """The directions in ``path`` (default: the shipped file)."""
    path = Path(path) if path is not None else shipped_directions_path()
    if not path.is_file():
        raise EmotagError(f"emotion directions not found: {path}")
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EmotagError(f"{path}: not a JSON emotion-directions file ({exc})") from None
    return EmotionDirections.from_record(record, str(path))


def save_emotion_directions(path: str | Path, directions: EmotionDirections) -> None:
    """Write atomically (a temporary file renamed into place)."""
    path = Path(path)
    text = json.dumps({**directions.record(), "provenance": directions.provenance}, indent=1)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fp:
            fp.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def resolve_directions(spec: str | None, head_model: str, sha256: str | None, log=print) -> EmotionDirections | None:
    """What ``pretrain --emotion-directions`` names: "builtin" (the shipped file, when it belongs to
    the tracks' head model; else none, with a note), "none", or a path (refused if foreign)."""
    if spec in (None, "none"):
        return None
    if spec == "builtin":
        shipped = load_emotion_directions()
        try:
            shipped.check_head_model(head_model, sha256)
        except EmotagError:
            log(f"note: the shipped emotion directions belong to another head model than "
                f"{_model_name(head_model, sha256)}; training without them (see scripts/build_emotion_directions.py)")
            return None
        return shipped
    directions = load_emotion_directions(spec)
    directions.check_head_model(head_model, sha256)
    return directions


def check_artifact_directions(record: dict[str, Any] | None, head_model: dict[str, Any], artifact: str) -> None:
    """Refuse a prior or avatar whose motion carries directions of another head model than its own
    ``head_model`` manifest record (id and ``source.sha256``). No directions: nothing to check."""
    if record is None:
        return
    directions = EmotionDirections.from_record(record, f"{artifact}: emotion directions")
    try:
        directions.check_head_model(str(head_model.get("id")), head_model.get("source", {}).get("sha256"))
    except EmotagError as exc:
        raise EmotagError(f"{artifact}: {exc}") from None
