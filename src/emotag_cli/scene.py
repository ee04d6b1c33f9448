"""The scene: what ``emotag preprocess`` writes and every later stage reads.

Layout of a scene folder (N frames, S = size)::

    manifest.json        kind "scene", schema version, config, inputs, counts, feature ids
    frames/000000.jpg    RGB S×S crops at 25 fps (constant frame rate)
    masks/000000.png     uint8 labels per pixel: 0 background, 1 torso, 2 head (MASK_* below)
    background.png       RGB S×S plate: the background with the person removed (inpainted)
    audio.wav            16 kHz mono PCM-16, exactly N·640 samples, sample 0 at frame 0
    crop.npy             [N, 3] float32 crop square in source pixels: centre x, centre y, side
    landmarks.npy        [N, 478, 3] float32 MediaPipe landmarks in crop pixels (z in the same
                         scale, + towards the camera is negative as in MediaPipe); NaN if no face
    face_found.npy       [N] bool
    audio_features.npy   [N, 16, D] float16 encoder tokens (50 Hz) windowed per frame (absent
                         when the video had no audio track)
    aus.npy              [N, 6] float32 AU01, AU04, AU05, AU06, AU07, AU45 intensities
    emotion.npy          [N, 7] float32 angry, disgust, fear, happy, sad, surprise, neutral
    identity.npy         [D] float32 identity embedding

The manifest records which encoder, AU source and emotion model made each array; later stages
compare those ids before they mix scenes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .artifact import read_manifest
from .contract import AU_NAMES, AUDIO_RATE, EMOTIONS, N_LANDMARKS
from .errors import EmotagError

SCENE_KIND = "scene"
SCENE_VERSION = 1

MASK_BACKGROUND, MASK_TORSO, MASK_HEAD = 0, 1, 2

# file name -> (shape with "N" for frames, or None for a non-array file)
ARRAYS: dict[str, tuple] = {
    "crop.npy": ("N", 3),
    "landmarks.npy": ("N", N_LANDMARKS, 3),
    "face_found.npy": ("N",),
    "audio_features.npy": ("N", 16, None),
    "aus.npy": ("N", len(AU_NAMES)),
    "emotion.npy": ("N", len(EMOTIONS)),
    "identity.npy": (None,),
}


def frame_name(i: int) -> str:
    return f"{i:06d}"


@dataclass
class Scene:
    """A validated scene folder. Arrays are loaded lazily (memory-mapped where large)."""

    path: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, path: Path | str, check_files: bool = True) -> Scene:
        path = Path(path)
        manifest = read_manifest(path, SCENE_KIND, SCENE_VERSION)
        scene = cls(path=path, manifest=manifest)
        if check_files:
            scene.validate()
        return scene

    @property
    def n_frames(self) -> int:
        return int(self.manifest["n_frames"])

    @property
    def fps(self) -> float:
        return float(self.manifest["fps"])

    @property
    def size(self) -> int:
        return int(self.manifest["size"])

    @property
    def has_audio(self) -> bool:
        return bool(self.manifest.get("has_audio"))

    def validate(self) -> None:
        """Check that every file the manifest promises is there with the right shape."""
        n = self.n_frames
        missing = [name for name in ("frames", "masks") if not (self.path / name).is_dir()]
        arrays = {k: v for k, v in ARRAYS.items() if self.has_audio or k != "audio_features.npy"}
        missing += [name for name in arrays if not (self.path / name).is_file()]
        if self.has_audio and not (self.path / "audio.wav").is_file():
            missing.append("audio.wav")
        if missing:
            raise EmotagError(f"scene {self.path} is incomplete: missing {', '.join(missing)}; re-run preprocess")
        for name, expected in arrays.items():
            arr = np.load(self.path / name, mmap_mode="r")
            want = tuple(n if d == "N" else d for d in expected)
            if len(arr.shape) != len(want) or any(w is not None and w != g for w, g in zip(want, arr.shape)):
                raise EmotagError(
                    f"scene {self.path}: {name} has shape {tuple(arr.shape)}, expected "
                    f"{tuple('*' if w is None else w for w in want)}; re-run preprocess"
                )
        n_images = sum(1 for _ in (self.path / "frames").glob("*.jpg"))
        if n_images != n:
            raise EmotagError(f"scene {self.path}: {n_images} frames on disk, manifest says {n}; re-run preprocess")

    def array(self, name: str) -> np.ndarray:
        return np.load(self.path / name, mmap_mode="r")

    @cached_property
    def landmarks(self) -> np.ndarray:
        return np.asarray(self.array("landmarks.npy"))

    def frame_path(self, i: int) -> Path:
        return self.path / "frames" / f"{frame_name(i)}.jpg"

    def mask_path(self, i: int) -> Path:
        return self.path / "masks" / f"{frame_name(i)}.png"

    def frame(self, i: int) -> np.ndarray:
        """RGB [S, S, 3] uint8."""
        import cv2

        img = cv2.imread(str(self.frame_path(i)), cv2.IMREAD_COLOR)
        if img is None:
            raise EmotagError(f"scene {self.path}: cannot read {self.frame_path(i).name}")
        return img[:, :, ::-1].copy()

    def mask(self, i: int) -> np.ndarray:
        """Labels [S, S] uint8 (MASK_BACKGROUND, MASK_TORSO, MASK_HEAD)."""
        import cv2

        m = cv2.imread(str(self.mask_path(i)), cv2.IMREAD_UNCHANGED)
        if m is None:
            raise EmotagError(f"scene {self.path}: cannot read {self.mask_path(i).name}")
        return m

    def audio(self) -> np.ndarray:
        """[N·640] float32 at 16 kHz."""
        import soundfile as sf

        if not self.has_audio:
            raise EmotagError(f"scene {self.path} has no audio (its video had no audio track)")
        data, rate = sf.read(self.path / "audio.wav", dtype="float32")
        if rate != AUDIO_RATE:
            raise EmotagError(f"scene {self.path}: audio.wav is {rate} Hz, expected {AUDIO_RATE}")
        return data
