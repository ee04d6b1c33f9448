"""nerfstudio / VHAP-style exports of a track: ``transforms.json`` and ``flame_param/<t>.npz``.

``transforms.json`` (the layout VHAP's ``export_as_nerf_dataset.py`` writes, which nerfstudio and
GaussianAvatars-style loaders read): shared intrinsics ``fl_x, fl_y, cx, cy, w, h,
camera_angle_x, camera_angle_y`` at the top level and per frame, and per frame
``transform_matrix`` — the camera-to-world matrix in OpenGL's convention (x right, y up, z back) —
``file_path``, ``timestep_index`` and ``camera_index`` (always 0: one camera), plus
``flame_param_path`` when the parameters are exported beside it. ``timestep_indices`` and
``camera_indices`` list the indices used.

``flame_param/<t>.npz`` (VHAP's per-frame files): ``translation, rotation, neck_pose, jaw_pose,
eyes_pose, expr`` each with a leading axis of 1, and ``shape`` [S].
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..camera import Camera, opencv_w2c_to_opengl_c2w

VHAP_KEYS = {"translation": "translation", "rotation": "rotation", "neck": "neck_pose", "jaw": "jaw_pose",
             "eyes": "eyes_pose", "expr": "expr"}


def transforms(camera: Camera, file_paths: list[str], flame_param_paths: list[str] | None = None) -> dict:
    """The transforms.json content for N frames (one file path per frame)."""
    w, h = camera.width, camera.height
    intrinsics = {
        "fl_x": camera.fx, "fl_y": camera.fy, "cx": camera.cx, "cy": camera.cy, "w": w, "h": h,
        "camera_angle_x": 2 * math.atan(w / (2 * camera.fx)), "camera_angle_y": 2 * math.atan(h / (2 * camera.fy)),
    }
    frames = []
    for i, path in enumerate(file_paths):
        frame = {"timestep_index": i, "camera_index": 0, **intrinsics,
                 "transform_matrix": opencv_w2c_to_opengl_c2w(camera.w2c_at(i)).tolist(), "file_path": path}
        if flame_param_paths is not None:
            frame["flame_param_path"] = flame_param_paths[i]
        frames.append(frame)
    return {"camera_model": "PINHOLE", **intrinsics, "frames": frames,
            "timestep_indices": list(range(len(file_paths))), "camera_indices": [0]}


def write_transforms(path: Path, camera: Camera, file_paths: list[str],
                     flame_param_paths: list[str] | None = None) -> None:
    Path(path).write_text(json.dumps(transforms(camera, file_paths, flame_param_paths), indent=1) + "\n")


def write_flame_params(folder: Path, params: dict[str, np.ndarray]) -> list[str]:
    """One VHAP-style npz per frame in ``folder``; returns their names relative to folder's parent."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for t in range(params["expr"].shape[0]):
        arrays = {vhap: np.asarray(params[ours][t:t + 1], dtype=np.float32) for ours, vhap in VHAP_KEYS.items()}
        arrays["shape"] = np.asarray(params["shape"], dtype=np.float32)
        if "static_offset" in params:
            arrays["static_offset"] = np.asarray(params["static_offset"], dtype=np.float32)[None]
        name = f"{t:05d}.npz"
        np.savez(folder / name, **arrays)
        names.append(f"{folder.name}/{name}")
    return names


def export_vhap(folder: Path, camera: Camera, params: dict[str, np.ndarray], file_paths: list[str]) -> Path:
    """A VHAP-style export in ``folder``: transforms.json + flame_param/ (images are referenced by
    ``file_paths``, relative to ``folder``). Returns the transforms.json path."""
    folder = Path(folder)
    names = write_flame_params(folder / "flame_param", params)
    write_transforms(folder / "transforms.json", camera, file_paths, names)
    return folder / "transforms.json"
