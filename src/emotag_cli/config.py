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


HEAD_MODELS = ("open", "flame")
OVERLAY_STYLES = ("shaded", "wireframe", "none")


@dataclass
class TrackConfig:
    """Settings of ``emotag track`` (docs/commands/track.md). Pixel quantities are at a 256-pixel
    frame and scale with the scene's size; angles are radians.

    head_model: "open" (built in) or "flame" (needs flame_model and flame_embedding).
    flame_model / flame_embedding: FLAME .pkl and its MediaPipe landmark embedding.
    n_shape / n_expr: shape and expression components fitted (at most the model's).
    rigid_iters / iters: Adam steps of the rigid stage (pose and focal, neutral face) and of the
        full stage (everything).
    lr: base step size; each parameter block scales it (see track/fit.py).
    landmark_sigma_px: assumed landmark noise; the priors are weighed against it.
    depth_sigma_px: how far MediaPipe's relative depth (z) is trusted; inf ignores it.
    iris_sigma_px: noise of the 10 iris points (they alone determine the gaze).
    focal: initial focal length in units of the frame side; focal_sigma: its log-normal prior
        width (inf: free); fit_focal: False keeps it fixed.
    shape_sigma / expr_sigma: prior std of the coefficients (the bases are in std units).
    jaw_open_range: free range of the jaw opening; jaw_side_sigma: sideways jaw rotation.
    eyes_sigma / eyes_vergence_sigma: gaze angle and the difference between the two eyes.
    smooth_*: std of the change per frame of rotation (rad), translation (m), expression, jaw (rad)
        and eyes (rad). The neck is not fitted: landmarks cannot tell it from the global rotation,
        which carries the whole head pose.
    overlay: style of overlay.mp4 ("none" writes none).
    """

    head_model: str = "open"
    flame_model: str | None = None
    flame_embedding: str | None = None
    n_shape: int = 100
    n_expr: int = 50
    rigid_iters: int = 100
    iters: int = 400
    lr: float = 0.01
    landmark_sigma_px: float = 1.0
    depth_sigma_px: float = 4.0
    iris_sigma_px: float = 1.0
    focal: float = 2.2
    focal_sigma: float = 0.3
    fit_focal: bool = True
    shape_sigma: float = 1.0
    expr_sigma: float = 1.0
    jaw_open_range: tuple[float, float] = (-0.02, 0.6)
    jaw_side_sigma: float = 0.05
    eyes_sigma: float = 0.35
    eyes_vergence_sigma: float = 0.05
    smooth_rotation: float = 0.03
    smooth_translation: float = 0.003
    smooth_expr: float = 0.6
    smooth_jaw: float = 0.08
    smooth_eyes: float = 0.15
    overlay: str = "shaded"
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if self.head_model not in HEAD_MODELS:
            raise EmotagError(f"--head-model must be one of {', '.join(HEAD_MODELS)}, got {self.head_model!r}")
        if self.head_model == "flame" and not self.flame_model:
            raise EmotagError("--head-model flame needs --flame-model PATH (FLAME generic_model.pkl or "
                              "flame2023_Open.pkl) and --flame-embedding PATH")
        if self.overlay not in OVERLAY_STYLES:
            raise EmotagError(f"--overlay must be one of {', '.join(OVERLAY_STYLES)}, got {self.overlay!r}")
        if not (1 <= self.n_expr <= 50):
            raise EmotagError(f"--n-expr must be between 1 and 50, got {self.n_expr}")
        if self.n_shape < 0 or self.rigid_iters < 0 or self.iters < 0:
            raise EmotagError("--n-shape, --rigid-iters and --iters must not be negative")
        if not 0.2 <= self.focal <= 20:
            raise EmotagError(f"--focal (focal length / frame side) must be between 0.2 and 20, got {self.focal}")
        if self.landmark_sigma_px <= 0 or self.depth_sigma_px <= 0 or self.iris_sigma_px <= 0:
            raise EmotagError("the landmark, depth and iris sigmas must be positive (inf switches a term off)")
        lo, hi = self.jaw_open_range
        if not lo < hi:
            raise EmotagError(f"jaw_open_range must be (low, high) with low < high, got {self.jaw_open_range}")
