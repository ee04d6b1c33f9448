"""Fitting the head model to a clip's landmarks: all frames at once, by Levenberg–Marquardt.

Unknowns: per frame the neck rotation, translation, jaw, eyes and expression; per clip one shape
vector and the focal length. Face landmarks cannot tell a neck rotation from a global one, so the
global rotation is fixed per clip (the mean head orientation of the initial PnP poses: the torso)
and the neck carries the head's turns, as a head turns on a still body. The camera sits
at the world origin with OpenCV axes FLIP while fitting (the head moves); at the end the mean
head translation is moved into the camera, so the head is near the world origin and the camera on
the +z axis looking at it (VHAP's layout).

Objective (a MAP estimate; F = Σ over frames, shared priors weighing as much as one frame):

    Σ_landmarks ½ |(π(x) − y) / σ_px|²                      2D reprojection (σ at 256 px, scaled)
  + Σ_landmarks ½ ((z_model − z_mediapipe) / σ_z)²          relative depth (off by default; per-frame
                                                            mean removed)
  + priors (track/priors.py) + temporal smoothness between consecutive valid frames

Schedule: SQPnP on the mean head per frame → LM on pose and focal with a neutral face (rigid) →
LM on everything. Each LM step linearises every frame with the model's exact analytic Jacobian
(LandmarkModel.jacobian) and solves the whole clip's damped normal equations exactly
(track/solver.py). Frames without landmarks are left out and get their parameters by linear
interpolation between the nearest fitted frames (held constant before the first / after the last).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..camera import Camera, look_at_head_w2c
from ..config import TrackConfig
from ..errors import EmotagError
from ..head.landmark_scheme import mediapipe_indices
from ..head.model import N_EXPR_MOTION, HeadModel
from .landmark_model import LandmarkModel
from .objective import TrackingProblem
from .rigid import pnp_head_poses, split_head_rotation
from .solver import levenberg_marquardt

IRIS = np.arange(468, 478)    # MediaPipe's refined iris points


@dataclass
class FitResult:
    """A fitted clip. params: float32 arrays shape [S], expr [N, 50], rotation, neck, jaw,
    translation [N, 3], eyes [N, 6] (world frame: the camera's w2c is ``camera.w2c``).
    valid [N]: frames that had landmarks (the others are interpolated). loss: the final objective's
    terms (averaged over frames). iterations: LM steps taken (rigid + full)."""

    params: dict[str, np.ndarray]
    camera: Camera
    valid: np.ndarray
    loss: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    iterations: int = 0


def fit_landmarks(model: HeadModel, landmarks: np.ndarray, size: int, config: TrackConfig,
                  advance: Callable[[int], None] | None = None) -> FitResult:
    """Fit ``model`` to MediaPipe landmarks [N, 478, 3] (crop pixels, NaN rows = no face) of a
    ``size``×``size`` clip. ``advance(1)`` is called after every LM iteration."""
    t0 = time.perf_counter()
    advance = advance or (lambda n=1: None)
    idx = mediapipe_indices(model)
    target = np.asarray(landmarks, dtype=np.float64)[:, idx]
    valid = np.isfinite(target).all(axis=(1, 2))
    if not valid.any():
        raise EmotagError("no frame of the scene has face landmarks; nothing to track")
    frames = np.nonzero(valid)[0]
    lm = LandmarkModel(model, n_shape=config.n_shape, n_expr=config.n_expr)
    problem = TrackingProblem(lm, target[valid], frames, size, config, iris=np.isin(idx, IRIS))

    with torch.no_grad():
        zeros = [torch.zeros(1, k) for k in (3, 3, 3, 6, 3)]
        rest = lm(torch.zeros(lm.n_shape), torch.zeros(1, lm.n_expr), *zeros)
        joints = lm.rest_joints(torch.zeros(lm.n_shape), torch.zeros(1, lm.n_expr))[0].double().numpy()
    rot0, trans0 = pnp_head_poses(rest[0].double().numpy(), target[valid, :, :2], config.focal * size,
                                  size / 2, size / 2, joints[0])
    global_rotation, neck0, trans0 = split_head_rotation(rot0, trans0, joints[0], joints[1])
    p = problem.init_params(global_rotation, neck0, trans0)

    focal = ["inv_focal"] if config.fit_focal else []
    rigid = ["neck", "position"] + focal
    full = ["neck", "position", "jaw", "eyes", "expr"] + (["shape"] if lm.n_shape else []) + focal
    steps = levenberg_marquardt(problem, p, rigid, config.rigid_iters, advance)
    steps += levenberg_marquardt(problem, p, full, config.iters, advance)
    p["translation"] = problem.translation(p["position"], p["inv_focal"])

    params = _full_length(p, frames, len(target), lm, model)
    f = problem.focal(p["inv_focal"])
    # Move the mean head translation into the camera: head near the origin, camera on +z.
    mean_t = params["translation"][valid].mean(0)
    params["translation"] = (params["translation"] - mean_t).astype(np.float32)
    camera = Camera(fx=f, fy=f, cx=size / 2, cy=size / 2, width=size, height=size,
                    w2c=look_at_head_w2c(-mean_t.astype(np.float64)))
    with torch.no_grad():
        losses = {k: float(v) for k, v in problem.terms(p).items()}
    return FitResult(params, camera, valid, losses, time.perf_counter() - t0, steps)


def _full_length(p: dict[str, torch.Tensor], frames: np.ndarray, n: int, lm: LandmarkModel,
                 model: HeadModel) -> dict[str, np.ndarray]:
    """Per-frame blocks over all n frames (interpolated where missing), padded to the model's sizes."""
    out = {}
    for name in ("expr", "rotation", "neck", "jaw", "eyes", "translation"):
        rows = p[name].detach().double().numpy()
        full = np.stack([np.interp(np.arange(n), frames, rows[:, k]) for k in range(rows.shape[1])], 1)
        out[name] = full.astype(np.float32)
    out["expr"] = np.pad(out["expr"], ((0, 0), (0, N_EXPR_MOTION - out["expr"].shape[1])))
    shape = np.zeros(model.n_shape, dtype=np.float32)
    shape[: lm.n_shape] = p["shape"].detach().numpy()
    out["shape"] = shape
    return out
