"""The track artifact: ``<scene>/track/``, what ``emotag track`` (or a VHAP import) writes.

Layout::

    manifest.json     kind "track", schema version, config, head model id, the scene's input hashes
    params.npz        per-frame head-model parameters (track/params.py)
    camera.json       intrinsics and world-to-camera extrinsics, OpenCV convention (camera.py)
    report.json       reprojection errors and fit time (track/report.py)
    overlay.mp4       the tracked mesh over the frames (absent with --overlay none)
    transforms.json   nerfstudio / VHAP-style camera file (track/export.py)

Later stages open it with :func:`open_track`, which refuses a track made from other landmarks
than the scene now holds (the scene was preprocessed again since).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..artifact import file_sha256, read_manifest
from ..camera import Camera
from ..errors import EmotagError
from ..scene import Scene
from .params import load_params

TRACK_KIND = "track"
TRACK_VERSION = 1
TRACK_DIR = "track"


def track_path(scene_path: Path | str) -> Path:
    return Path(scene_path) / TRACK_DIR


def scene_inputs(scene: Scene) -> dict[str, Any]:
    """What the track depends on in the scene: its landmarks file and the video it came from."""
    video = scene.manifest.get("inputs", {}).get("video", {})
    return {"scene": str(scene.path.absolute()), "video_sha256": video.get("sha256"),
            "landmarks_sha256": file_sha256(scene.path / "landmarks.npy")}


@dataclass
class Track:
    path: Path
    manifest: dict[str, Any]
    params: dict[str, np.ndarray]
    camera: Camera

    @property
    def n_frames(self) -> int:
        return int(self.params["expr"].shape[0])

    @property
    def head_model_id(self) -> str:
        return str(self.manifest["head_model"]["id"])


def open_track(scene_path: Path | str, check_scene: bool = True) -> Track:
    """Load and check ``<scene>/track``."""
    scene = Scene.open(scene_path, check_files=False)
    path = track_path(scene.path)
    if not path.exists():
        raise EmotagError(f"{scene.path} has not been tracked: run `emotag track {scene.path}`")
    manifest = read_manifest(path, TRACK_KIND, TRACK_VERSION)
    if int(manifest.get("n_frames", -1)) != scene.n_frames:
        raise EmotagError(f"{path} tracks {manifest.get('n_frames')} frames but the scene has {scene.n_frames}: "
                          f"re-run `emotag track {scene.path} --overwrite`")
    if check_scene:
        recorded = manifest.get("inputs", {}).get("landmarks_sha256")
        if recorded is not None and recorded != file_sha256(scene.path / "landmarks.npy"):
            raise EmotagError(f"{path} was made from other landmarks than {scene.path} now holds: "
                              f"re-run `emotag track {scene.path} --overwrite`")
    params = load_params(path / "params.npz", scene.n_frames)
    try:
        camera = Camera.load(path / "camera.json")
    except (OSError, ValueError, KeyError) as exc:
        raise EmotagError(f"{path / 'camera.json'} is unreadable ({exc}); re-run `emotag track`") from None
    if not camera.fixed and camera.w2c.shape[0] != scene.n_frames:
        raise EmotagError(f"{path / 'camera.json'} has {camera.w2c.shape[0]} extrinsics for {scene.n_frames} frames")
    return Track(path, manifest, params, camera)
