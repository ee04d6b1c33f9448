"""Importing a VHAP export as the scene's track, for users who already track with VHAP.

VHAP (``vhap/export_as_nerf_dataset.py``) writes a folder with ``transforms.json`` (per frame:
``timestep_index``, ``camera_index``, ``fl_x, fl_y, cx, cy, w, h`` in the export's pixels, and
``transform_matrix``, an OpenGL camera-to-world matrix) and ``flame_param/<t>.npz`` per timestep
(``translation, rotation, neck_pose, jaw_pose, eyes_pose`` [1, 3|6], ``expr`` [1, 100],
``shape`` [300], optionally ``static_offset`` [1, V, 3]). Its FLAME and emotag's share one world
frame, so the parameters carry over unchanged; the cameras become OpenCV world-to-camera matrices
and the intrinsics are rescaled from the export's frame size to the scene's. Expression components
beyond the 50 emotag uses are dropped (their size is recorded in the report).

The export must come from this scene's frames: one camera, as many timesteps as the scene has
frames, square frames.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from ..artifact import atomic_folder, file_sha256, new_manifest, write_manifest
from ..camera import Camera, opengl_c2w_to_opencv_w2c
from ..config import TrackConfig, to_dict
from ..errors import EmotagError
from ..head.model import N_EXPR_MOTION, HeadModel
from ..head.registry import head_model_of, head_model_record
from ..progress import Reporter, quiet
from ..scene import Scene
from .export import VHAP_KEYS, write_transforms
from .overlay import write_overlay
from .params import check_params, save_params
from .pipeline import frame_paths
from .report import build_report
from .result import TRACK_KIND, TRACK_VERSION, scene_inputs, track_path


def _transforms_file(export: Path) -> Path:
    path = export / "transforms.json" if export.is_dir() else export
    if not path.is_file():
        raise EmotagError(f"{export} is not a VHAP export: no transforms.json")
    return path


def read_vhap_export(export: Path | str, size: int) -> tuple[dict[str, np.ndarray], Camera, dict]:
    """Parameters (emotag's params.npz layout, N timesteps), the camera at ``size`` px, and facts
    about the import (export frame size, dropped expression RMS)."""
    path = _transforms_file(Path(export))
    root = path.parent
    try:
        meta = json.loads(path.read_text())
        frames = meta["frames"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise EmotagError(f"{path} is not a VHAP transforms.json ({exc.__class__.__name__})") from None
    if not frames:
        raise EmotagError(f"{path} lists no frames")
    cameras = {f.get("camera_index", 0) for f in frames}
    if len(cameras) > 1:
        raise EmotagError(f"{path} has {len(cameras)} cameras: emotag imports monocular VHAP exports only")
    frames = sorted(frames, key=lambda f: int(f["timestep_index"]))
    steps = [int(f["timestep_index"]) for f in frames]
    if steps != list(range(len(frames))):
        raise EmotagError(f"{path}: timestep indices are not 0..{len(frames) - 1} without gaps or repeats")

    def intrinsic(f: dict, key: str) -> float:
        value = f.get(key, meta.get(key))
        if value is None:
            raise EmotagError(f"{path}: no {key} for timestep {f['timestep_index']}")
        return float(value)

    first = frames[0]
    w, h = intrinsic(first, "w"), intrinsic(first, "h")
    if w != h:
        raise EmotagError(f"{path}: frames are {w:g}×{h:g}; emotag scenes are square — export VHAP from the "
                          f"scene's own frames")
    k = np.array([[intrinsic(f, key) for key in ("fl_x", "fl_y", "cx", "cy", "w", "h")] for f in frames])
    if np.ptp(k, axis=0).max() > 1e-6 * max(1.0, float(np.abs(k).max())):
        raise EmotagError(f"{path}: intrinsics change between frames; emotag takes one camera per scene")
    scale = size / w
    c2w = np.array([f["transform_matrix"] for f in frames], dtype=np.float64)
    if c2w.shape[1:] != (4, 4):
        raise EmotagError(f"{path}: transform_matrix must be 4×4")
    w2c = opengl_c2w_to_opencv_w2c(c2w)
    if np.abs(w2c - w2c[:1]).max() < 1e-9:
        w2c = w2c[0]
    camera = Camera(fx=k[0, 0] * scale, fy=k[0, 1] * scale, cx=k[0, 2] * scale, cy=k[0, 3] * scale,
                    width=size, height=size, w2c=w2c)

    per_frame: dict[str, list[np.ndarray]] = {ours: [] for ours in VHAP_KEYS}
    shape = static_offset = None
    dropped = []
    for f in frames:
        rel = f.get("flame_param_path", f"flame_param/{int(f['timestep_index']):05d}.npz")
        npz = root / rel
        if not npz.is_file():
            raise EmotagError(f"{path}: missing {rel}")
        try:
            with np.load(npz, allow_pickle=False) as z:
                arrays = {key: z[key] for key in z.files}
        except (OSError, ValueError) as exc:
            raise EmotagError(f"cannot read {npz}: {exc}") from None
        absent = [vhap for vhap in (*VHAP_KEYS.values(), "shape") if vhap not in arrays]
        if absent:
            raise EmotagError(f"{npz}: missing {', '.join(absent)}")
        for ours, vhap in VHAP_KEYS.items():
            per_frame[ours].append(np.asarray(arrays[vhap], dtype=np.float32).reshape(-1))
        expr = per_frame["expr"][-1]
        dropped.append(expr[N_EXPR_MOTION:])
        per_frame["expr"][-1] = np.pad(expr[:N_EXPR_MOTION], (0, max(0, N_EXPR_MOTION - expr.shape[0])))
        if shape is None:
            shape = np.asarray(arrays["shape"], dtype=np.float32).reshape(-1)
            if "static_offset" in arrays:
                static_offset = np.asarray(arrays["static_offset"], dtype=np.float32).reshape(-1, 3)
    params = {k: np.stack(v) for k, v in per_frame.items()}
    params["shape"] = shape
    if static_offset is not None:
        params["static_offset"] = static_offset
    check_params(params, len(frames), where=str(root / "flame_param"))
    rest = np.concatenate(dropped) if dropped else np.zeros(0)
    facts = {"export": str(root.absolute()), "export_size": w, "scale": scale,
             "dropped_expr_rms": float(np.sqrt((rest**2).mean())) if rest.size else 0.0}
    return params, camera, facts


def import_vhap(export: Path | str, scene_path: Path | str, config: TrackConfig | None = None,
                overwrite: bool = False, reporter: Reporter | None = None, model: HeadModel | None = None) -> Path:
    """Write ``<scene>/track`` from a VHAP export; returns its path.

    ``config`` names the FLAME the export was tracked with (``flame_model``, ``flame_embedding``;
    its head_model is set to "flame") and is recorded in the manifest, where later stages find the
    head model. With a model — ``model``, or loaded from ``config.flame_model`` when that is given —
    the report holds reprojection errors against the scene's landmarks and an overlay
    (``config.overlay``) is drawn; without one the report records the import only.
    """
    reporter = reporter or quiet()
    config = dataclasses.replace(config or TrackConfig(), head_model="flame")
    overlay = config.overlay
    scene = Scene.open(scene_path)
    target = track_path(scene.path)
    if target.exists() and not overwrite:
        raise EmotagError(f"{target} already exists; pass --overwrite to replace it")
    params, camera, facts = read_vhap_export(Path(export), scene.size)
    if model is None and config.flame_model:
        model = head_model_of(config)
    n = params["expr"].shape[0]
    if n != scene.n_frames:
        raise EmotagError(f"the VHAP export has {n} timesteps but {scene.path} has {scene.n_frames} frames: "
                          f"export VHAP from this scene's frames")
    if model is not None and params["shape"].shape[0] > model.n_shape:
        raise EmotagError(f"the VHAP export has {params['shape'].shape[0]} shape components, "
                          f"{model.id} only {model.n_shape}")
    if facts["dropped_expr_rms"] > 0.5:
        reporter.warn(f"VHAP expression components 51+ are dropped (RMS {facts['dropped_expr_rms']:.2f})")
    transforms_path = _transforms_file(Path(export))

    with atomic_folder(target, overwrite=overwrite) as tmp:
        save_params(tmp / "params.npz", params)
        camera.save(tmp / "camera.json")
        valid = np.isfinite(scene.landmarks).all(axis=(1, 2))
        if model is not None:
            report = build_report(model, params, camera, scene.landmarks, valid, scene.size, extra={"vhap": facts})
        else:
            report = {"units": "pixels of the scene's frames", "size": scene.size, "n_frames": n,
                      "reprojection": None, "vhap": facts}
        (tmp / "report.json").write_text(json.dumps(report, indent=1) + "\n")
        write_transforms(tmp / "transforms.json", camera, frame_paths(scene))
        if model is not None and overlay != "none":
            with reporter.step("overlay", total=n) as advance:
                per_frame = np.array([np.nan if v is None else v for v in report["per_frame_mean"]])
                write_overlay(tmp / "overlay.mp4", scene, model, params, camera, per_frame, style=overlay,
                              advance=advance)
        write_manifest(tmp, new_manifest(
            TRACK_KIND, TRACK_VERSION, to_dict(config),
            source="vhap-import", vhap=facts,
            head_model=head_model_record(model) if model is not None else {"id": "flame", "note": "VHAP's FLAME"},
            inputs={**scene_inputs(scene), "vhap_transforms_sha256": file_sha256(transforms_path)},
            n_frames=n, fps=scene.fps, size=scene.size,
            camera={"convention": "opencv", "extrinsics": "fixed" if camera.fixed else "per_frame"},
        ))
    return target
