"""Test helper: a small FLAME-format head model built from MediaPipe's canonical face mesh.

478 vertices (the canonical mesh's 468 in metres plus 10 iris points, so its landmark embedding is
the identity, as in the open model), FLAME's five joints (global, neck, jaw, eyes) placed at
plausible anatomical points, smooth skinning (the lower face on the jaw, the irises on the eyes),
small random pose correctives, and random smooth shape and expression bases (millimetres per unit
coefficient, the expression components decaying in size like a PCA basis). Deterministic for a given seed.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch

from emotag_cli.head.model import HeadModel

RIGHT_EYE = (33, 133, 159, 145)      # subject's right eye: corners, upper and lower lid
LEFT_EYE = (263, 362, 386, 374)
IRIS_RADIUS = 0.0055                 # metres


def canonical_mesh() -> tuple[np.ndarray, np.ndarray]:
    """Vertices [468, 3] (metres, FLAME axes) and triangles [898, 3] of the canonical face mesh."""
    text = resources.files("emotag_cli").joinpath("assets/mediapipe_canonical_face_model.obj").read_text()
    verts, faces = [], []
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "v":
            verts.append([float(p) for p in parts[1:4]])
        elif parts and parts[0] == "f":
            faces.append([int(p.split("/")[0]) - 1 for p in parts[1:4]])
    return np.asarray(verts) * 0.01, np.asarray(faces, dtype=np.int64)


def _affine_weights(anchors: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Weights w [4] (sum 1) with w · anchors [4, 3] = target [3]."""
    a = np.vstack([anchors.T, np.ones(4)])
    return np.linalg.solve(a, np.append(target, 1.0))


def _smooth_fields(points: np.ndarray, k: int, scale: float | np.ndarray, rng: np.random.Generator,
                   n_bumps: int = 40, width: float = 0.03) -> np.ndarray:
    """k random smooth displacement fields [P, 3, k] on points [P, 3] (RMS ``scale`` metres, one or
    one per field): sums of Gaussian bumps (``width`` metres) at random points, free of rigid
    motion, uniform scaling and depth shears."""
    centres = points[rng.choice(len(points), n_bumps, replace=False)]
    bumps = np.exp(-0.5 * ((points[:, None] - centres[None]) ** 2).sum(-1) / width**2)     # [P, n_bumps]
    fields = np.einsum("pb,bck->pck", bumps, rng.normal(size=(n_bumps, 3, k)))
    # No rigid part (translation, rotation, scale), nor the depth-proportional shifts that look
    # like a nod or a turn in a frontal view: the pose parameters own those motions.
    c = points - points.mean(0)
    rigid = [np.tile(np.eye(3)[i], (len(c), 1)) for i in range(3)]
    rigid += [np.cross(np.eye(3)[i], c) for i in range(3)] + [c]
    rigid += [np.outer(c[:, 2], np.eye(3)[i]) for i in range(2)]
    q, _ = np.linalg.qr(np.stack([r.reshape(-1) for r in rigid], 1))
    flat = fields.reshape(-1, k)
    fields = (flat - q @ (q.T @ flat)).reshape(fields.shape)
    fields *= np.asarray(scale) / np.sqrt((fields**2).mean(axis=(0, 1)))
    return fields


def make_head_model(seed: int = 0, n_shape: int = 20, n_expr: int = 50) -> HeadModel:
    rng = np.random.default_rng(seed)
    face, tris = canonical_mesh()
    # Irises: a centre and four rim points (right, top, left, bottom as MediaPipe orders them),
    # 2 mm in front of the eye opening's centre.
    iris, eye_centres = [], []
    for eye in (RIGHT_EYE, LEFT_EYE):
        centre = face[list(eye)].mean(0) + [0, 0, 0.002]
        eye_centres.append(centre - [0, 0, 0.012])
        iris.append(centre)
        for dx, dy in ((1, 0), (0, 1), (-1, 0), (0, -1)):
            iris.append(centre + IRIS_RADIUS * np.array([dx, dy, 0.0]))
    verts = np.concatenate([face, np.asarray(iris)])                   # [478, 3]
    v = verts.shape[0]
    # Outward-facing triangles (counter-clockwise seen from outside).
    n = np.cross(face[tris[:, 1]] - face[tris[:, 0]], face[tris[:, 2]] - face[tris[:, 0]])
    outward = ((face[tris].mean(1) - face.mean(0) + [0, 0, 0.05]) * n).sum(1) > 0
    tris = np.where(outward[:, None], tris, tris[:, ::-1])
    # Joints: root at the neck base, neck at the skull base, jaw below the ears, eyeball centres.
    targets = [np.array([0, -0.09, -0.03]), np.array([0, -0.04, -0.03]), np.array([0, -0.025, -0.01]),
               eye_centres[1], eye_centres[0]]                        # FLAME: left eye before right
    anchors = [10, 152, 234, 454]
    j_reg = np.zeros((5, v))
    for j, target in enumerate(targets):
        j_reg[j, anchors] = _affine_weights(verts[anchors], target)
    # Skinning: head on the neck joint, a soft jaw below the lip line, irises on the eyes.
    lip_y = 0.5 * (verts[13, 1] + verts[14, 1])
    jaw_w = 1 / (1 + np.exp(-(lip_y - verts[:, 1]) / 0.0015))
    jaw_w *= 1 / (1 + np.exp(-(verts[:, 2] + 0.01) / 0.005))           # not the back of the jaw line
    weights = np.zeros((v, 5))
    weights[:, 1] = 1 - jaw_w
    weights[:, 2] = jaw_w
    weights[468:473] = np.eye(5)[4]
    weights[473:478] = np.eye(5)[3]
    # Shape: 2 mm per unit each; expression: decaying like a PCA basis, 3 mm for the first.
    shapedirs = _smooth_fields(verts, n_shape, 0.002, rng)
    exprdirs = _smooth_fields(verts, n_expr, 0.003 / np.sqrt(np.arange(1, n_expr + 1)), rng)
    posedirs = rng.normal(scale=2e-4, size=(4 * 9, v * 3))
    lmk_faces = np.zeros(v, dtype=np.int64)
    lmk_bary = np.zeros((v, 3))
    # Identity embedding: landmark i sits on a triangle that uses vertex i, with weight 1 there.
    for i in range(v):
        if i < 468:
            f = int(np.nonzero((tris == i).any(1))[0][0])
            lmk_faces[i] = f
            lmk_bary[i, list(tris[f]).index(i)] = 1.0
    iris_faces = np.array([[468 + 5 * e + a, 468 + 5 * e + b, 468 + 5 * e + c]
                           for e in range(2) for a, b, c in ((0, 1, 2), (0, 3, 4))])
    all_faces = np.concatenate([tris, iris_faces])
    for i in range(468, 478):
        f = len(tris) + int(np.nonzero((iris_faces == i).any(1))[0][0])
        lmk_faces[i] = f
        lmk_bary[i, list(all_faces[f]).index(i)] = 1.0

    def f32(a):
        return torch.as_tensor(np.asarray(a), dtype=torch.float32)

    model = HeadModel(
        id=f"synthetic-canonical-{seed}", v_template=f32(verts), shapedirs=f32(shapedirs),
        exprdirs=f32(exprdirs), posedirs=f32(posedirs), J_regressor=f32(j_reg),
        parents=torch.tensor([-1, 0, 1, 1, 1]), lbs_weights=f32(weights),
        faces=torch.as_tensor(all_faces), lmk_faces=torch.as_tensor(lmk_faces), lmk_bary=f32(lmk_bary),
        meta={"landmark_indices": list(range(v))},
    )
    model.validate()
    return model
