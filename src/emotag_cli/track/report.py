"""Fit quality: 2D reprojection errors of the tracked model against the scene's landmarks.

Errors are Euclidean pixel distances in the scene's frames between each model landmark projected
through the tracked camera and the MediaPipe landmark it corresponds to. ``report.json`` holds the
per-frame mean error, a summary over all (frame, landmark) pairs, per-region means, the jaw /
inner-lip correlation (a check that mouth opening went to the jaw) and the fit time.
"""

from __future__ import annotations

import numpy as np
import torch

from ..camera import Camera, project, transform_points
from ..head.landmark_scheme import mediapipe_indices
from ..head.model import HeadModel
from .landmark_model import LandmarkModel
from .params import head_pose

# MediaPipe FaceMesh regions (indices into the 478 landmarks).
REGIONS = {
    "lips": (0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191,
             267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415),
    "eyes": (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246,
             249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466),
    "irises": tuple(range(468, 478)),
    "face_oval": (10, 21, 54, 58, 67, 93, 103, 109, 127, 132, 136, 148, 149, 150, 152, 162, 172, 176,
                  234, 251, 284, 288, 297, 323, 332, 338, 356, 361, 365, 377, 378, 379, 389, 397, 400, 454),
}
INNER_LIP = (13, 14)


def model_landmarks_px(model: HeadModel, params: dict[str, np.ndarray], camera: Camera,
                       chunk: int = 256) -> np.ndarray:
    """Projected model landmarks [N, L, 2] in the scene's pixels."""
    lm = LandmarkModel(model)
    n = params["expr"].shape[0]
    out = np.zeros((n, lm.n_landmarks, 2), dtype=np.float32)
    with torch.no_grad():
        for lo in range(0, n, chunk):
            sel = slice(lo, min(n, lo + chunk))
            p = head_pose(params, sel)
            x = lm(p.shape, p.expr, p.rotation, p.neck, p.jaw, p.eyes, p.translation)
            w2c = torch.as_tensor(camera.w2c if camera.fixed else camera.w2c[sel], dtype=torch.float32)
            uv = project(transform_points(w2c, x), camera.fx, camera.fy, camera.cx, camera.cy)
            out[sel] = uv.numpy()
    return out


def reprojection_errors(model: HeadModel, params: dict[str, np.ndarray], camera: Camera,
                        landmarks: np.ndarray) -> np.ndarray:
    """[N, L] pixel distance per frame and model landmark (NaN for frames without landmarks)."""
    idx = mediapipe_indices(model)
    uv = model_landmarks_px(model, params, camera)
    return np.linalg.norm(uv - np.asarray(landmarks)[:, idx, :2], axis=-1)


def jaw_lip_correlation(jaw: np.ndarray, landmarks: np.ndarray) -> float | None:
    """Pearson correlation over frames with landmarks of the jaw opening (jaw[:, 0], rad) and the
    inner-lip distance (landmarks 13–14, px). None when either does not vary."""
    gap = np.linalg.norm(landmarks[:, INNER_LIP[0], :2] - landmarks[:, INNER_LIP[1], :2], axis=-1)
    ok = np.isfinite(gap)
    a, b = jaw[ok, 0], gap[ok]
    if ok.sum() < 3 or a.std() < 1e-9 or b.std() < 1e-9:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def summarise(errors: np.ndarray) -> dict[str, float]:
    """Mean, median, 95th percentile and max of the finite entries of ``errors`` (pixels)."""
    e = errors[np.isfinite(errors)]
    if e.size == 0:
        return {"mean": float("nan"), "median": float("nan"), "p95": float("nan"), "max": float("nan")}
    return {"mean": float(e.mean()), "median": float(np.median(e)), "p95": float(np.percentile(e, 95)),
            "max": float(e.max())}


def build_report(model: HeadModel, params: dict[str, np.ndarray], camera: Camera, landmarks: np.ndarray,
                 valid: np.ndarray, size: int, fit_seconds: float | None = None,
                 extra: dict | None = None) -> dict:
    """The content of report.json."""
    errors = reprojection_errors(model, params, camera, landmarks)
    idx = mediapipe_indices(model)
    per_frame = np.nanmean(np.where(valid[:, None], errors, np.nan), axis=1) if valid.any() else errors[:, 0]
    regions = {}
    for name, members in REGIONS.items():
        cols = np.isin(idx, members)
        if cols.any():
            regions[name] = summarise(errors[valid][:, cols])["mean"]
    n = len(valid)
    report = {
        "units": "pixels of the scene's frames",
        "size": size,
        "n_frames": n,
        "n_fitted": int(valid.sum()),
        "n_interpolated": int(n - valid.sum()),
        "n_landmarks": int(len(idx)),
        "reprojection": {**summarise(errors[valid]), "per_frame_mean_p95": summarise(per_frame[valid])["p95"]},
        "reprojection_at_256": {k: v * 256 / size for k, v in summarise(errors[valid]).items()},
        "regions_mean": regions,
        "jaw_lip_correlation": jaw_lip_correlation(params["jaw"], np.asarray(landmarks)),
        "focal_px": camera.fx,
        "fit_seconds": fit_seconds,
        "fit_seconds_per_frame": None if fit_seconds is None else fit_seconds / max(n, 1),
        "per_frame_mean": [None if not np.isfinite(v) else round(float(v), 4) for v in per_frame],
    }
    if extra:
        report.update(extra)
    return report
