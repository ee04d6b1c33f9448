"""Typed configs of each stage. They are saved in every artifact's manifest and reloaded from it.

Configs are plain dataclasses: ``to_dict`` gives JSON-ready values and ``from_dict`` rebuilds the
dataclass, refusing unknown keys, so a saved config is data, never code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .errors import EmotagError

T = TypeVar("T")


def to_dict(config: Any) -> dict[str, Any]:
    """JSON-ready dict of a config dataclass (paths become strings)."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out[f.name] = str(value) if isinstance(value, Path) else value
    return out


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a config dataclass from ``to_dict`` output; unknown keys are an error."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise EmotagError(f"{cls.__name__}: unknown settings {sorted(unknown)} (made by another emotag version?)")
    return cls(**data)


CROP_MODES = ("fixed", "smooth")
AU_SOURCES = ("landmarks", "openface", "pyfeat")
EMOTION_MODELS = ("auto", "fer", "deepface")


@dataclass
class PreprocessConfig:
    """Settings of ``emotag preprocess``.

    size: output frame side in pixels (square crop).
    fps: output constant frame rate.
    crop: "fixed" (one square for the whole clip) or "smooth" (a slowly moving square that follows
        the head; sigma ``crop_smooth_s`` seconds).
    crop_scale: crop side as a multiple of the face-landmark box's larger side (room for hair and
        neck; 2.2 puts the face box at under half the frame, as in ER-NeRF / InsTaG data).
    crop_y_shift: vertical offset of the crop centre, in face-box heights (negative = up, to keep
        the hair in frame).
    audio_encoder / audio_encoder_path: see docs/reference/audio-features.md.
    au_source / openface_csv: see docs/reference/action-units.md.
    emotion_model: see docs/reference/emotion-and-identity.md.
    identity_top_k: frames (most neutral first) averaged into the identity embedding.
    jpeg_quality: quality of the stored frames.
    """

    size: int = 512
    fps: float = 25.0
    crop: str = "fixed"
    crop_scale: float = 2.2
    crop_y_shift: float = -0.15
    crop_smooth_s: float = 1.0
    audio_encoder: str = "mel"
    audio_encoder_path: str | None = None
    au_source: str = "landmarks"
    openface_csv: str | None = None
    emotion_model: str = "auto"
    identity_top_k: int = 50
    jpeg_quality: int = 95
    min_seconds_warn: float = 5.0
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if not 64 <= self.size <= 2048:
            raise EmotagError(f"--size must be between 64 and 2048, got {self.size}")
        if self.crop not in CROP_MODES:
            raise EmotagError(f"--crop must be one of {', '.join(CROP_MODES)}, got {self.crop!r}")
        if self.au_source not in AU_SOURCES:
            raise EmotagError(f"--au-source must be one of {', '.join(AU_SOURCES)}, got {self.au_source!r}")
        if self.au_source == "openface" and not self.openface_csv:
            raise EmotagError("--au-source openface needs --openface-csv PATH")
        if self.emotion_model not in EMOTION_MODELS:
            raise EmotagError(
                f"--emotion-model must be one of {', '.join(EMOTION_MODELS)}, got {self.emotion_model!r}"
            )
        if not 1.0 <= self.crop_scale <= 4.0:
            raise EmotagError(f"--crop-scale must be between 1 and 4, got {self.crop_scale}")
