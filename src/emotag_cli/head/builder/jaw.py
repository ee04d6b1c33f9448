"""The jaw: smooth skinning weights and per-frame jaw rotations fitted to landmark tracks.

Weights: a harmonic field on the face + scalp mesh, 1 on the lower lip and everything below it on
the face (the mandible and the chin), 0 on the upper lip, on the face above the nose's base and on
the scalp away from the jaw (above the ear lobes or behind the ramus). Vertices in between — mouth
corners, lower cheeks, the skin under the chin — get the smoothest blend. The field is made exactly
left-right symmetric on the face.

Rotations: a vertex v moves to v + w (R - I)(v - J) when the jaw turns by R about the joint J
(linear blend skinning with the head fixed). ``fit_jaw`` finds, for every frame, the R that best
explains the frame's landmarks from the subject's neutral face, by damped Gauss-Newton on all
frames at once; jaw yaw and roll are penalised so that asymmetric lip shapes stay with the
expression basis rather than being explained as a sideways jaw.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from .harmonic import harmonic_fill, sub_laplacian
from .topology import LIP_INNER_LOWER, LIP_INNER_UPPER, LIP_OUTER_LOWER, LIP_OUTER_UPPER, N_FACE, mirror_index

MOUTH_CORNERS = (61, 291, 78, 308)
LOWER_LIP_BASE = 17   # midpoint of the lower lip's outer contour: the face below it is mandible
NOSE_BASE = 2         # subnasale: the face above it does not follow the jaw


def jaw_weights(vertices: np.ndarray, faces: np.ndarray, scalp: np.ndarray, ear_bottom_y: float,
                ramus_back_z: float) -> np.ndarray:
    """``[V]`` jaw skinning weight of every vertex of the face + scalp mesh (0 elsewhere).

    vertices: ``[V, 3]`` rest positions (metres), faces: triangles of the whole head; scalp: ids
    of the scalp vertices. Scalp vertices above ``ear_bottom_y`` or behind ``ramus_back_z`` are 0.
    """
    face = np.arange(N_FACE)
    y = vertices[:, 1]
    corners = set(MOUTH_CORNERS)
    lower = [i for i in LIP_INNER_LOWER + LIP_OUTER_LOWER if i not in corners]
    upper = [i for i in LIP_INNER_UPPER + LIP_OUTER_UPPER if i not in corners]
    one = np.union1d(lower, face[y[face] < y[LOWER_LIP_BASE]])
    zero = np.union1d(upper, face[y[face] > y[NOSE_BASE]])
    zero = np.union1d(zero, scalp[(y[scalp] > ear_bottom_y) | (vertices[scalp, 2] < ramus_back_z)])
    zero = np.setdiff1d(zero, one)

    part = np.concatenate([face, scalp])                       # the connected face + scalp surface
    local = np.zeros(len(vertices), dtype=np.int64)
    local[part] = np.arange(len(part))
    fixed = np.concatenate([local[one], local[zero]])
    values = np.concatenate([np.ones(len(one)), np.zeros(len(zero))])
    w = np.zeros(len(vertices))
    w[part] = np.clip(harmonic_fill(sub_laplacian(part, faces), fixed, values)[:, 0], 0.0, 1.0)
    w[face] = 0.5 * (w[face] + w[mirror_index()[:N_FACE]])
    return w


def apply_jaw(neutral: np.ndarray, weights: np.ndarray, joint: np.ndarray, rotvec: np.ndarray) -> np.ndarray:
    """``[N, P, 3]``: ``neutral [P, 3]`` with the jaw turned by ``rotvec [N, 3]`` about ``joint``."""
    rot = Rotation.from_rotvec(rotvec).as_matrix()                         # [N, 3, 3]
    q = neutral - joint
    return neutral + weights[:, None] * (np.einsum("nij,pj->npi", rot, q) - q)


def fit_jaw(frames: np.ndarray, neutral: np.ndarray, weights: np.ndarray, joint: np.ndarray,
            side_penalty: float = 1.0, iterations: int = 12) -> np.ndarray:
    """Per-frame jaw rotation vectors ``[N, 3]`` (radians; x = opening) explaining ``frames``.

    frames: ``[N, P, 3]`` aligned landmarks; neutral: ``[P, 3]``; weights: ``[P]`` jaw weights.
    Minimises sum_p |frames - apply_jaw(...)|^2 + side_penalty * s * (theta_y^2 + theta_z^2), with
    s = sum_p w_p^2 |neutral_p - joint|^2 (the cost of a unit rotation), so ``side_penalty`` is unitless.
    """
    n = len(frames)
    w = weights
    q = neutral - joint
    scale = float((w**2 * (q**2).sum(-1)).sum())
    prior = np.diag([0.0, side_penalty, side_penalty]) * scale
    rot = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
    for _ in range(iterations):
        a = np.einsum("nij,pj->npi", rot, q)                                 # rotated offsets
        r = frames - (neutral + w[:, None] * (a - q))                        # residual [N, P, 3]
        # Left-multiplied update R <- R(delta) R: d(pred) = w * (delta x a).
        aa = np.einsum("p,npi,npj->nij", w**2, a, a)
        sq = np.einsum("p,npi->n", w**2, a * a)
        normal = sq[:, None, None] * np.eye(3) - aa + prior + 1e-9 * scale * np.eye(3)
        theta = Rotation.from_matrix(rot).as_rotvec()
        rhs = np.einsum("p,npi->ni", w, np.cross(a, r)) - theta @ prior
        delta = np.linalg.solve(normal, rhs[..., None])[..., 0]
        rot = Rotation.from_rotvec(delta).as_matrix() @ rot
    return Rotation.from_matrix(rot).as_rotvec()
