"""Where the head pose, upper-face AUs, camera and background of each rendered frame come from.

- ``clip`` (default): the avatar's adaptation clip, looped back and forth (0, 1, …, T−1, T−2, …, 1,
  0, 1, …) so the head never jumps; the backdrop is that clip's frame with the head replaced by
  the background plate, when the scene is still on disk (else the plate).
- ``still``: the first frame's pose and AUs held for the whole video.
- a tracked scene folder: its poses, AUs, camera and frames (reenactment in another video).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..avatar import Avatar
from ..errors import EmotagError
from ..scene import MASK_HEAD, Scene

POSE_KEYS = ("rotation", "neck", "eyes", "translation")


def ping_pong(n_out: int, n_src: int) -> np.ndarray:
    """[n_out] source indices 0..n_src-1 looped back and forth."""
    if n_src <= 1:
        return np.zeros(n_out, np.int64)
    period = 2 * (n_src - 1)
    k = np.arange(n_out) % period
    return np.where(k < n_src, k, period - k)


@dataclass
class DriveSource:
    """Per-source-frame driving data (T source frames) and how to make a backdrop.

    pose: arrays [T, ·] rotation, neck, eyes, translation; aus [T, 6]; w2c [T, 4, 4];
    K [3, 3] at the avatar's size; scene: where backdrop frames come from (or None: plate only).
    """

    name: str
    pose: dict[str, np.ndarray]
    aus: np.ndarray
    w2c: np.ndarray
    K: Tensor
    scene: Scene | None
    scene_frames: np.ndarray          # [T] scene frame index of each source frame

    @property
    def n(self) -> int:
        return int(self.aus.shape[0])


def _camera_stack(camera, n: int) -> np.ndarray:
    return np.repeat(camera.w2c[None], n, 0) if camera.fixed else camera.w2c[:n]


def drive_source(avatar: Avatar, drive: str) -> DriveSource:
    """Resolve ``--drive``: 'clip', 'still' or a tracked scene folder."""
    if drive in ("clip", "still"):
        d = avatar.driving()
        first, end = avatar.manifest["train_frames"]
        scene = None
        scene_path = Path(avatar.manifest.get("scene", {}).get("path", ""))
        if scene_path.is_dir():
            try:
                scene = Scene.open(scene_path, check_files=False)
            except EmotagError:
                scene = None
        camera = avatar.camera()
        t = end - first
        pose = {k: d[k] for k in POSE_KEYS}
        aus, w2c = d["aus"], _camera_stack(camera, t)
        frames = np.arange(first, end)
        if drive == "still":
            pose = {k: v[:1] for k, v in pose.items()}
            aus, w2c, frames = aus[:1], w2c[:1], frames[:1]
        return DriveSource(drive, pose, aus, w2c, avatar.K(), scene, frames)
    path = Path(drive)
    if path.is_file():
        raise EmotagError(f"--drive {drive}: a video must be made a tracked scene first: "
                          f"`emotag preprocess {drive} -o SCENE && emotag track SCENE`, then --drive SCENE")
    if not path.is_dir():
        raise EmotagError(f"--drive {drive}: not 'clip', 'still' or a tracked scene folder")
    from ..track.result import open_track

    scene = Scene.open(path)
    track = open_track(path)
    camera = track.camera
    s = avatar.size / scene.size
    K = torch.tensor([[camera.fx * s, 0, camera.cx * s], [0, camera.fy * s, camera.cy * s], [0, 0, 1]],
                     dtype=torch.float32)
    pose = {k: np.asarray(track.params[k], np.float32) for k in POSE_KEYS}
    aus = np.asarray(scene.array("aus.npy"), np.float32)
    return DriveSource(path.name, pose, aus, _camera_stack(camera, scene.n_frames), K, scene,
                       np.arange(scene.n_frames))


class Backdrops:
    """The image each rendered head is composited over, [3, S, S] float in [0, 1].

    mode 'drive': the drive source's frame with its head replaced by the plate under a feathered
    mask (a soft edge at the head boundary); 'plate': the background plate; or an RGB colour.
    """

    def __init__(self, avatar: Avatar, source: DriveSource, mode: str = "drive", feather_px: float = 3.0,
                 size: int | None = None):
        import cv2

        self.size = size or avatar.size
        self.source = source
        self.feather = feather_px * self.size / 256
        self.colour = None
        if mode not in ("drive", "plate"):
            self.colour = _parse_colour(mode)
        plate = avatar.background()
        if source.scene is not None and mode == "drive":
            own = source.scene.path / "background.png"
            if own.is_file():
                plate = cv2.imread(str(own))[:, :, ::-1]
        self.plate = self._tensor(plate)
        self.mode = mode if source.scene is not None or mode != "drive" else "plate"

    def _tensor(self, rgb: np.ndarray) -> Tensor:
        import cv2

        if rgb.shape[0] != self.size:
            rgb = cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255

    def __call__(self, src_index: int) -> Tensor:
        import cv2

        if self.colour is not None:
            return self.colour[:, None, None].expand(3, self.size, self.size)
        if self.mode == "plate":
            return self.plate
        scene = self.source.scene
        i = int(self.source.scene_frames[src_index])
        frame = self._tensor(scene.frame(i))
        head = (scene.mask(i) == MASK_HEAD).astype(np.float32)
        if head.shape[0] != self.size:
            head = cv2.resize(head, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        if self.feather > 0:
            head = cv2.GaussianBlur(np.minimum(1, cv2.dilate(head, np.ones((3, 3), np.uint8)) * 1.0), (0, 0),
                                    self.feather)
        m = torch.from_numpy(head)[None]
        return frame * (1 - m) + self.plate * m


def _parse_colour(text: str) -> Tensor:
    t = text.strip().lstrip("#")
    named = {"black": "000000", "white": "ffffff", "green": "00ff00", "grey": "808080", "gray": "808080"}
    t = named.get(t.lower(), t)
    if len(t) != 6 or any(c not in "0123456789abcdefABCDEF" for c in t):
        raise EmotagError(f"--background {text!r}: expected drive, plate, a colour name or #RRGGBB")
    return torch.tensor([int(t[k:k + 2], 16) / 255 for k in (0, 2, 4)], dtype=torch.float32)
