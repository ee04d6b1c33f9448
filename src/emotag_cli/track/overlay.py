"""The overlay video: the tracked mesh drawn over the scene's frames, for a person to inspect.

Each output frame is two panels side by side: the scene frame with its MediaPipe landmarks (green
dots), and the same frame with the tracked mesh over it (flat-shaded from the camera's direction,
or as a wireframe), the frame index and that frame's mean reprojection error. Triangles facing
away from the camera are skipped and the rest drawn far to near (painter's algorithm), which is
exact for a head seen from the front and close enough at profile.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from ..camera import Camera, project, transform_points
from ..head.lbs import flame_forward
from ..head.model import HeadModel
from ..media.encode import VideoWriter
from ..scene import Scene
from .params import head_pose

SHIFT = 4                         # cv2 fixed-point bits: sub-pixel vertex positions
ALPHA = 0.7                       # mesh opacity over the frame
MESH_COLOUR = np.array([150, 190, 255], dtype=np.float64)  # RGB, fully lit
EDGE_COLOUR = (40, 60, 110)
LANDMARK_COLOUR = (60, 220, 60)


def camera_vertices(model: HeadModel, params: dict[str, np.ndarray], camera: Camera,
                    frames: slice) -> np.ndarray:
    """Posed mesh vertices of ``frames`` in camera coordinates [B, V, 3] (metres)."""
    with torch.no_grad():
        verts = flame_forward(model, head_pose(params, frames))
        w2c = torch.as_tensor(camera.w2c if camera.fixed else camera.w2c[frames], dtype=torch.float32)
        return transform_points(w2c, verts).numpy()


def draw_mesh(image: np.ndarray, cam_vertices: np.ndarray, faces: np.ndarray, camera: Camera,
              style: str = "shaded") -> np.ndarray:
    """RGB uint8 [H, W, 3] with the mesh [V, 3] (camera frame) drawn over it (a new array)."""
    uv = project(torch.as_tensor(cam_vertices), camera.fx, camera.fy, camera.cx, camera.cy).numpy()
    tri = cam_vertices[faces]                                        # [F, 3, 3]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    centre = tri.mean(1)
    facing = -(normal * centre).sum(1)                               # > 0: towards the camera
    keep = (facing > 0) & (tri[:, :, 2] > 1e-3).all(1)
    order = np.argsort(-centre[keep, 2])                             # far to near
    kept = faces[keep][order]
    norm = np.linalg.norm(normal[keep][order], axis=1) * np.linalg.norm(centre[keep][order], axis=1)
    light = facing[keep][order] / np.maximum(norm, 1e-12)           # cos(angle to the view ray)
    # cv2 puts pixel centres at integers; the scene's coordinates put them at +0.5.
    pts = np.round((uv - 0.5) * (1 << SHIFT)).astype(np.int32)[kept]  # [F', 3, 2]
    canvas = image.copy()
    mask = np.zeros(image.shape[:2], dtype=np.uint8)
    if style == "wireframe":
        cv2.polylines(canvas, list(pts), True, (255, 255, 255), 1, cv2.LINE_AA, SHIFT)
        cv2.polylines(mask, list(pts), True, 255, 1, cv2.LINE_AA, SHIFT)
    else:
        colours = (MESH_COLOUR[None] * (0.25 + 0.75 * light[:, None])).astype(np.int32)
        for p, c in zip(pts, colours):
            cv2.fillConvexPoly(canvas, p, c.tolist(), cv2.LINE_AA, SHIFT)
            cv2.fillConvexPoly(mask, p, 255, cv2.LINE_AA, SHIFT)
        edges = canvas.copy()
        cv2.polylines(edges, list(pts), True, EDGE_COLOUR, 1, cv2.LINE_AA, SHIFT)
        canvas = cv2.addWeighted(canvas, 0.6, edges, 0.4, 0)
    a = (ALPHA * mask.astype(np.float32) / 255)[..., None]
    return (image * (1 - a) + canvas * a).round().astype(np.uint8)


def draw_landmarks(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """RGB uint8 with the [P, 2+] landmarks as dots (a new array); NaN rows draw nothing."""
    out = image.copy()
    if np.isfinite(points).all():
        for x, y in np.round((points[:, :2] - 0.5) * (1 << SHIFT)).astype(np.int32):
            cv2.circle(out, (int(x), int(y)), 1 << SHIFT, LANDMARK_COLOUR, -1, cv2.LINE_AA, SHIFT)
    return out


def write_overlay(path: Path, scene: Scene, model: HeadModel, params: dict[str, np.ndarray], camera: Camera,
                  per_frame_error: np.ndarray | None = None, style: str = "shaded", chunk: int = 32,
                  advance: Callable[[int], None] | None = None) -> None:
    """Write the two-panel overlay video of the whole scene to ``path`` (H.264, the scene's fps)."""
    advance = advance or (lambda n=1: None)
    faces = model.faces.numpy()
    size, n = scene.size, scene.n_frames
    landmarks = scene.landmarks
    scale = max(size / 512, 0.35)
    with VideoWriter(path, 2 * size, size, fps=scene.fps) as writer:
        for lo in range(0, n, chunk):
            sel = slice(lo, min(n, lo + chunk))
            verts = camera_vertices(model, params, camera, sel)
            for k, i in enumerate(range(sel.start, sel.stop)):
                frame = scene.frame(i)
                left = draw_landmarks(frame, landmarks[i])
                right = draw_mesh(frame, verts[k], faces, camera, style)
                text = f"{i}"
                if per_frame_error is not None and np.isfinite(per_frame_error[i]):
                    text += f"  {per_frame_error[i]:.2f}px"
                elif not np.isfinite(landmarks[i]).all():
                    text += "  no face: interpolated"
                cv2.putText(right, text, (4, int(16 * scale) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale,
                            (255, 255, 0), 1, cv2.LINE_AA)
                writer.write(np.concatenate([left, right], 1))
                advance(1)
