"""Head-pose removal: a weighted similarity (Procrustes) fit of each frame to MediaPipe's canonical face.

The canonical mesh and the per-landmark Procrustes weights are MediaPipe's own (Apache-2.0 files in
``emotag_cli/assets``). We keep only the weighted landmarks that the upper-face action units and
speech leave still: MediaPipe's basis also holds jaw-line (136, 365) and cheek points (117, 119,
121, 147, 205 and their mirrors) that move when the jaw opens or the cheeks rise, and letting them
steer the fit would leak those motions into the brow and lid measurements.

Coordinates: scene landmarks have x right, y down, z into the screen (pixels). The canonical mesh
has x right, y up, z towards the viewer, in centimetre-like units. Aligned shapes are returned in
the canonical frame and units.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

import numpy as np

MESH_FILE = "mediapipe_canonical_face_model.obj"
WEIGHTS_FILE = "mediapipe_geometry_pipeline_metadata_landmarks.pbtxt"

# Weighted basis points that follow the lower face or the cheeks (see the module docstring).
MOVING_BASIS_POINTS = frozenset({117, 119, 121, 136, 147, 205, 346, 348, 350, 365, 376, 425})

# Image (x right, y down, z away) -> canonical (x right, y up, z towards the viewer).
_TO_CANONICAL_AXES = np.array([1.0, -1.0, -1.0])


def asset_text(name: str) -> str:
    return (resources.files("emotag_cli") / "assets" / name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def canonical_vertices() -> np.ndarray:
    """MediaPipe's canonical face mesh: float64 ``[468, 3]``, same order as the FaceMesh landmarks."""
    rows = [line.split()[1:4] for line in asset_text(MESH_FILE).splitlines() if line.startswith("v ")]
    vertices = np.asarray(rows, dtype=np.float64)
    if vertices.shape != (468, 3):
        raise RuntimeError(f"{MESH_FILE}: expected 468 vertices, found {len(vertices)}")
    vertices.setflags(write=False)
    return vertices


@functools.lru_cache(maxsize=1)
def procrustes_weights() -> dict[int, float]:
    """MediaPipe's Procrustes basis: landmark id -> weight (33 entries)."""
    pairs = re.findall(r"landmark_id:\s*(\d+)\s+weight:\s*([0-9.eE+-]+)", asset_text(WEIGHTS_FILE))
    return {int(i): float(w) for i, w in pairs}


@functools.lru_cache(maxsize=1)
def alignment_basis() -> tuple[np.ndarray, np.ndarray]:
    """(landmark ids ``[K]`` int, weights ``[K]`` float64 summing to 1) that drive the fit."""
    kept = {i: w for i, w in procrustes_weights().items() if i not in MOVING_BASIS_POINTS}
    ids = np.array(sorted(kept), dtype=np.int64)
    weights = np.array([kept[i] for i in ids], dtype=np.float64)
    return ids, weights / weights.sum()


def align_to_canonical(landmarks: np.ndarray) -> np.ndarray:
    """Remove head pose and scale from every frame.

    landmarks: ``[N, P, 3]`` (P >= 468; 478 with irises) in scene pixels, NaN rows for no face.
    Returns float64 ``[N, P, 3]`` in canonical-mesh units: each frame mapped by the similarity
    transform (rotation, uniform scale, translation) that best fits its basis points to the
    canonical mesh in the weighted least-squares sense (Umeyama's solution). Frames with any
    non-finite basis point come back as NaN.
    """
    points = np.asarray(landmarks, dtype=np.float64) * _TO_CANONICAL_AXES
    ids, w = alignment_basis()
    target = canonical_vertices()[ids]
    out = np.full(points.shape, np.nan)
    ok = np.isfinite(points[:, ids]).all(axis=(1, 2))
    if not ok.any():
        return out

    src = points[ok][:, ids]  # [M, K, 3]
    src_mean = np.einsum("k,mkd->md", w, src)
    dst_mean = w @ target
    src_c = src - src_mean[:, None]
    dst_c = target - dst_mean
    cov = np.einsum("k,ki,mkj->mij", w, dst_c, src_c)  # [M, 3, 3], target x source
    u, s, vt = np.linalg.svd(cov)
    # A proper rotation: flip the weakest axis if the best orthogonal map is a reflection.
    sign = np.ones_like(s)
    sign[:, 2] = np.sign(np.linalg.det(u @ vt))
    rot = u @ (sign[:, :, None] * vt)
    scale = (s * sign).sum(axis=1) / np.einsum("k,mkd->m", w, src_c**2)

    centred = points[ok] - src_mean[:, None]
    out[ok] = scale[:, None, None] * np.einsum("mij,mpj->mpi", rot, centred) + dst_mean
    return out
