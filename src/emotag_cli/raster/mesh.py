"""A z-buffer triangle rasterizer for mesh depth and normal maps (targets, overlays; no gradients).

Pinhole camera in OpenCV convention (x right, y down, z forward); pixel (u, v) has its centre at
(u + 0.5, v + 0.5).
"""

from __future__ import annotations

import numpy as np


def project(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """[V, 3] camera-space points → [V, 2] pixel coordinates."""
    z = points_cam[:, 2:3]
    return (points_cam[:, :2] / np.where(np.abs(z) < 1e-9, 1e-9, z)) * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]


def render_depth_normals(verts_cam: np.ndarray, faces: np.ndarray, K: np.ndarray, width: int,
                         height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rasterize a mesh seen from the camera.

    verts_cam [V, 3] camera-space vertices (z > 0 in front); faces [F, 3].
    Returns depth [H, W] float32 (camera z, 0 where empty), normals [H, W, 3] float32 (unit,
    camera space, turned towards the camera, 0 where empty) and face ids [H, W] int32 (-1 empty).
    """
    uv = project(verts_cam, K)
    depth = np.full((height, width), np.inf, np.float32)
    ids = np.full((height, width), -1, np.int32)
    tri_uv = uv[faces]                                                        # [F, 3, 2]
    tri_z = verts_cam[faces, 2]                                               # [F, 3]
    e1 = verts_cam[faces[:, 1]] - verts_cam[faces[:, 0]]
    e2 = verts_cam[faces[:, 2]] - verts_cam[faces[:, 0]]
    normals = np.cross(e1, e2)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    towards = (normals * verts_cam[faces[:, 0]]).sum(1) > 0                   # facing away: flip
    normals[towards] *= -1
    lo = np.floor(tri_uv.min(1) - 0.5).astype(int)
    hi = np.ceil(tri_uv.max(1) - 0.5).astype(int)
    for f in np.flatnonzero((tri_z > 1e-6).all(1)):
        x0, y0 = max(lo[f, 0], 0), max(lo[f, 1], 0)
        x1, y1 = min(hi[f, 0], width - 1), min(hi[f, 1], height - 1)
        if x0 > x1 or y0 > y1:
            continue
        (ax, ay), (bx, by), (cx, cy) = tri_uv[f]
        det = (bx - ax) * (cy - ay) - (cx - ax) * (by - ay)
        if abs(det) < 1e-12:
            continue
        ys, xs = np.mgrid[y0:y1 + 1, x0:x1 + 1]
        px, py = xs + 0.5, ys + 0.5
        w1 = ((px - ax) * (cy - ay) - (cx - ax) * (py - ay)) / det
        w2 = ((bx - ax) * (py - ay) - (px - ax) * (by - ay)) / det
        w0 = 1 - w1 - w2
        inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        if not inside.any():
            continue
        # Perspective-correct depth: interpolate 1/z in screen space.
        inv_z = w0 / tri_z[f, 0] + w1 / tri_z[f, 1] + w2 / tri_z[f, 2]
        z = 1 / inv_z
        region = depth[y0:y1 + 1, x0:x1 + 1]
        closer = inside & (z < region)
        region[closer] = z[closer]
        ids[y0:y1 + 1, x0:x1 + 1][closer] = f
    hit = ids >= 0
    depth[~hit] = 0
    nmap = np.zeros((height, width, 3), np.float32)
    nmap[hit] = normals[ids[hit]]
    return depth, nmap, ids
