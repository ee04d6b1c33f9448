"""Rigid initialisation: each frame's head pose from its 2D landmarks by PnP on the mean head.

The head model at rest (mean shape, neutral expression) supplies the 3D points; OpenCV's SQPnP
(a globally optimal PnP solver) gives the camera-frame pose per frame, which is turned into the
model's global rotation and translation for a camera at the world origin with axes FLIP.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from ..camera import FLIP


def pnp_head_poses(points: np.ndarray, pixels: np.ndarray, focal: float, cx: float, cy: float,
                   root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Head rotation [N, 3] (axis-angle) and translation [N, 3] (metres) per frame.

    points [L, 3]: the model's rest-pose landmarks (world, metres). pixels [N, L, 2]: observed
    landmarks. root [3]: the model's root joint at rest — FLAME rotates about it, so
    ``X ↦ R (X − root) + root + translation``. The camera sits at the origin looking along −z
    world (w2c = [FLIP | 0]).
    """
    k = np.array([[focal, 0, cx], [0, focal, cy], [0, 0, 1]], dtype=np.float64)
    obj = np.ascontiguousarray(points, dtype=np.float64)
    rotations = np.zeros((len(pixels), 3))
    translations = np.zeros((len(pixels), 3))
    previous = None
    for i, uv in enumerate(pixels):
        ok, rvec, tvec = cv2.solvePnP(obj, np.ascontiguousarray(uv, dtype=np.float64), k, None,
                                      flags=cv2.SOLVEPNP_SQPNP)
        if not ok or tvec[2, 0] <= 0:
            if previous is None:
                # A head straight in front of the camera at a depth where its size matches.
                spread = np.linalg.norm(uv - uv.mean(0), axis=1).mean()
                depth = focal * np.linalg.norm(obj - obj.mean(0), axis=1).mean() / max(spread, 1e-6)
                rvec, tvec = np.zeros((3, 1)), np.array([[0.0], [0.0], [depth]])
            else:
                rvec, tvec = previous
        previous = (rvec, tvec)
        r_cam = cv2.Rodrigues(rvec)[0]
        r_head = FLIP @ r_cam                    # FLIP (R_h X + t_h) = R_cam X + t_cam
        t_head = FLIP @ tvec[:, 0]
        rotations[i] = cv2.Rodrigues(r_head)[0][:, 0]
        translations[i] = t_head + r_head @ root - root
    return rotations, translations


def split_head_rotation(rotations: np.ndarray, translations: np.ndarray, root: np.ndarray, neck: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Re-express per-frame head poses as one global rotation (the torso) and a neck rotation per frame.

    rotations [N, 3], translations [N, 3]: poses of a head rotating about the root joint (neck pose
    zero). root, neck [3]: the rest positions of the root and neck joints. Returns the global
    rotation [3] (the chordal mean), neck rotations [N, 3] and translations [N, 3] that move
    everything skinned at or below the neck joint exactly as before:
    R_g R_n = R_h and t = t_h + (R_h − R_g)(neck − root).
    """
    r_h = Rotation.from_rotvec(rotations)
    r_g = r_h.mean()
    r_n = r_g.inv() * r_h
    offset = np.asarray(neck, dtype=np.float64) - np.asarray(root, dtype=np.float64)
    t = translations + r_h.apply(offset) - r_g.apply(offset)
    return r_g.as_rotvec(), r_n.as_rotvec(), t
