"""The two sides of an evaluation, read as 25 fps frame streams: a video file or a scene folder.

A ``Clip`` hands out its frames one at a time (memory stays flat however long the video), its
audio placed on the frame timeline (16 kHz mono, ``n_frames * 640`` samples, sample 0 at frame 0)
and, for a scene, what preprocess already measured: the 478 MediaPipe landmarks and the head mask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..contract import FPS as VIDEO_FPS
from ..errors import EmotagError
from ..media.audio import align_to_frames, decode_audio
from ..media.probe import probe
from ..media.video import decode_cfr
from ..scene import AUDIO_RATE, MASK_HEAD, Scene

FPS = float(VIDEO_FPS)
SAMPLES_PER_FRAME = int(AUDIO_RATE / FPS)  # 640


@dataclass
class Clip:
    """A frame stream at 25 fps with what is known about it.

    kind: ``"video"`` or ``"scene"``; width, height: frame size in pixels.
    landmarks: ``[N, 478, 3]`` float32 MediaPipe landmarks in frame pixels (scene only; NaN rows
    without a face), else None: the evaluation computes them while streaming.
    """

    path: Path
    kind: str
    n_frames: int
    width: int
    height: int
    has_audio: bool
    _frames: Callable[[], Iterator[np.ndarray]]
    _audio: Callable[[], np.ndarray]
    landmarks: np.ndarray | None = None
    _head_masks: Callable[[], Iterator[np.ndarray]] | None = None

    def frames(self) -> Iterator[np.ndarray]:
        """RGB uint8 ``[H, W, 3]`` frames, ``n_frames`` of them."""
        return self._frames()

    def audio(self) -> np.ndarray | None:
        """float32 ``[n_frames * 640]`` at 16 kHz aligned to frame 0, or None without an audio track."""
        return self._audio() if self.has_audio else None

    @property
    def has_head_masks(self) -> bool:
        return self._head_masks is not None

    def head_masks(self) -> Iterator[np.ndarray]:
        """bool ``[H, W]`` per frame, True on the head (scene only)."""
        if self._head_masks is None:
            raise EmotagError(f"{self.path} has no head masks (only a scene has)")
        return self._head_masks()


def open_video(path: Path | str) -> Clip:
    """A media file decoded at 25 fps constant frame rate (``emotag_cli.media``)."""
    info = probe(Path(path))
    n = info.n_frames(FPS)
    if n < 1:
        raise EmotagError(f"{info.path.name} is too short: {info.duration_s:.3f} s holds no frame at 25 fps")

    def audio() -> np.ndarray:
        samples, start = decode_audio(info.path, AUDIO_RATE)
        return align_to_frames(samples, start - info.start_s, n, FPS, AUDIO_RATE)

    return Clip(path=info.path, kind="video", n_frames=n, width=info.width, height=info.height,
                has_audio=info.has_audio, _frames=lambda: decode_cfr(info, FPS), _audio=audio)


def open_scene(path: Path | str) -> Clip:
    """A scene folder made by ``emotag preprocess`` (frames, audio, landmarks and masks)."""
    scene = Scene.open(path)
    if abs(scene.fps - FPS) > 1e-6:
        raise EmotagError(f"scene {scene.path} is at {scene.fps:g} fps; eval compares 25 fps frames")
    n = scene.n_frames

    def frames() -> Iterator[np.ndarray]:
        return (scene.frame(i) for i in range(n))

    def head_masks() -> Iterator[np.ndarray]:
        return (scene.mask(i) == MASK_HEAD for i in range(n))

    return Clip(path=scene.path, kind="scene", n_frames=n, width=scene.size, height=scene.size,
                has_audio=scene.has_audio, _frames=frames, _audio=scene.audio,
                landmarks=scene.landmarks, _head_masks=head_masks)


def open_reference(path: Path | str) -> Clip:
    """A scene folder or a video file, whichever ``path`` is."""
    path = Path(path)
    if not path.exists():
        raise EmotagError(f"reference not found: {path} (give a scene folder or a video file)")
    if path.is_dir():
        if not (path / "manifest.json").is_file():
            raise EmotagError(f"reference {path} is a folder but not a scene (no manifest.json); "
                              "give a scene made by `emotag preprocess` or a video file")
        return open_scene(path)
    return open_video(path)
