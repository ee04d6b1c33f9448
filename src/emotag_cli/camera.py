"""The tracked camera: pinhole intrinsics and world-to-camera extrinsics, OpenCV convention.

Frames, one convention for all of emotag (docs/reference/camera-conventions.md):

- **World** is the head model's frame: metres, x to the subject's left, y up, z forward out of
  the face (FLAME's). A head at rest looks along +z.
- **Camera** is OpenCV's: x right, y down, z forward (into the scene). A point ``X_w`` maps to
  ``X_c = R X_w + t`` with the world-to-camera matrix ``w2c = [[R, t], [0, 1]]``.
- **Pixels**: ``u = fx X_c/Z_c + cx``, ``v = fy Y_c/Z_c + cy`` in the scene's landmark coordinates,
  where the image spans ``[0, width] × [0, height]`` (MediaPipe's normalised coordinates times the
  size), so the principal point of a centred camera is ``(width/2, height/2)``.

A camera in front of a head at rest, looking at it, has ``R = FLIP = diag(1, -1, -1)``: the subject's
left (world +x) appears on the image's right, world up is image up, the face points at the camera.
nerfstudio / VHAP ``transforms.json`` store camera-to-world matrices in OpenGL's convention (x right,
y up, z backwards); :func:`opencv_w2c_to_opengl_c2w` and its inverse convert.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

FLIP = np.diag([1.0, -1.0, -1.0])          # world (y up, z to the camera) → OpenCV camera axes
_GL_FROM_CV = np.diag([1.0, -1.0, -1.0, 1.0])  # OpenCV camera axes ↔ OpenGL camera axes (self-inverse)


@dataclass
class Camera:
    """Pinhole intrinsics (pixels) and world-to-camera extrinsics (metres).

    w2c is [4, 4] for a camera fixed over the clip, or [N, 4, 4] for one per frame.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    w2c: np.ndarray

    @property
    def K(self) -> np.ndarray:
        """[3, 3] intrinsic matrix."""
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], dtype=np.float64)

    def w2c_at(self, i: int) -> np.ndarray:
        """[4, 4] world-to-camera matrix of frame ``i``."""
        return self.w2c if self.w2c.ndim == 2 else self.w2c[i]

    @property
    def fixed(self) -> bool:
        return self.w2c.ndim == 2

    def to_json(self) -> dict:
        return {
            "convention": "opencv",
            "intrinsics": {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy,
                           "width": self.width, "height": self.height},
            "extrinsics": {
                "type": "world_to_camera",
                "per_frame": not self.fixed,
                "w2c": np.asarray(self.w2c, dtype=np.float64).tolist(),
            },
        }

    @classmethod
    def from_json(cls, data: dict) -> Camera:
        k, e = data["intrinsics"], data["extrinsics"]
        if data.get("convention") != "opencv" or e.get("type") != "world_to_camera":
            raise ValueError("camera.json: expected an OpenCV world-to-camera camera")
        w2c = np.asarray(e["w2c"], dtype=np.float64)
        if w2c.shape[-2:] != (4, 4) or w2c.ndim not in (2, 3):
            raise ValueError(f"camera.json: w2c has shape {w2c.shape}, expected [4, 4] or [N, 4, 4]")
        return cls(float(k["fx"]), float(k["fy"]), float(k["cx"]), float(k["cy"]),
                   int(k["width"]), int(k["height"]), w2c)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> Camera:
        return cls.from_json(json.loads(Path(path).read_text()))


def look_at_head_w2c(camera_centre: np.ndarray) -> np.ndarray:
    """[4, 4] w2c of a camera at ``camera_centre`` (world, metres) with axes FLIP (facing −z world)."""
    w2c = np.eye(4)
    w2c[:3, :3] = FLIP
    w2c[:3, 3] = -FLIP @ np.asarray(camera_centre, dtype=np.float64)
    return w2c


def opencv_w2c_to_opengl_c2w(w2c: np.ndarray) -> np.ndarray:
    """[..., 4, 4] OpenCV world-to-camera → OpenGL camera-to-world (nerfstudio transform_matrix)."""
    return np.linalg.inv(w2c) @ _GL_FROM_CV


def opengl_c2w_to_opencv_w2c(c2w: np.ndarray) -> np.ndarray:
    """[..., 4, 4] OpenGL camera-to-world → OpenCV world-to-camera."""
    return np.linalg.inv(np.asarray(c2w, dtype=np.float64) @ _GL_FROM_CV)


def transform_points(w2c: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Points [B, P, 3] (world) → camera coordinates [B, P, 3]; w2c [4, 4] or [B, 4, 4]."""
    r, t = w2c[..., :3, :3], w2c[..., :3, 3]
    if w2c.ndim == 2:
        return points @ r.T + t
    return points @ r.transpose(-1, -2) + t[:, None]


def project(points_cam: torch.Tensor, fx, fy, cx: float, cy: float, min_depth: float = 1e-3) -> torch.Tensor:
    """Camera-frame points [..., 3] → pixels [..., 2]. fx, fy: floats or 0-d tensors (differentiable).

    Depth is clamped at ``min_depth`` metres so a point behind the camera gives a large but finite
    residual instead of a sign flip.
    """
    z = points_cam[..., 2:3].clamp_min(min_depth)
    xy = points_cam[..., :2] / z
    return torch.stack([xy[..., 0] * fx + cx, xy[..., 1] * fy + cy], -1)
