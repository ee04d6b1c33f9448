"""Rigging Gaussians to mesh triangles (GaussianAvatars; docs/reference/head-models.md).

Every Gaussian has a parent triangle. The triangle's frame — origin at its centroid C, rotation R
whose columns are (first edge, normal, their cross product), and scale k (the mean of the first
edge's length and the triangle's height) — carries the Gaussian's local parameters to the world:

    μ = k R μ_l + C        r = q(R) ⊗ r_l        s = k s_l

so the Gaussians follow the mesh as it deforms, and stretch with it.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .quat import matrix_to_quat, quat_multiply

EPS = 1e-12


class TriangleFrames(NamedTuple):
    """Per-triangle frames of B meshes with F triangles.

    rotation [B, F, 3, 3] (columns: edge, normal, edge × normal); centre [B, F, 3];
    scale [B, F] (same length unit as the vertices); quat [B, F, 4] (the rotation as w, x, y, z).
    """

    rotation: Tensor
    centre: Tensor
    scale: Tensor
    quat: Tensor


def _normalise(v: Tensor) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(EPS)


def triangle_frames(verts: Tensor, faces: Tensor) -> TriangleFrames:
    """verts [B, V, 3] (or [V, 3]), faces [F, 3] int64 → TriangleFrames with a batch dim."""
    if verts.dim() == 2:
        verts = verts[None]
    v0, v1, v2 = verts[:, faces[:, 0]], verts[:, faces[:, 1]], verts[:, faces[:, 2]]
    centre = (v0 + v1 + v2) / 3
    e0 = v1 - v0
    a0 = _normalise(e0)
    a1 = _normalise(torch.cross(a0, v2 - v0, dim=-1))                          # normal
    a2 = -_normalise(torch.cross(a1, a0, dim=-1))
    rotation = torch.stack([a0, a1, a2], dim=-1)                               # columns
    height = (a2 * (v2 - v0)).sum(-1).abs()
    scale = (e0.norm(dim=-1) + height) / 2
    return TriangleFrames(rotation, centre, scale, matrix_to_quat(rotation))


def deform(frames: TriangleFrames, binding: Tensor, local_means: Tensor, local_quats: Tensor,
           local_scales: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """World means [B, N, 3], quats [B, N, 4] and scales [B, N, 3] of N bound Gaussians.

    binding [N] int64 parent triangle; local_means [N, 3] (in units of the triangle scale);
    local_quats [N, 4]; local_scales [N, 3] (activated, in units of the triangle scale).
    """
    r = frames.rotation[:, binding]                                            # [B, N, 3, 3]
    k = frames.scale[:, binding, None]                                         # [B, N, 1]
    means = k * (r @ local_means[None, ..., None])[..., 0] + frames.centre[:, binding]
    quats = quat_multiply(frames.quat[:, binding], local_quats[None].expand(r.shape[0], -1, -1))
    scales = k * local_scales[None]
    return means, quats, scales


def local_from_world(frames: TriangleFrames, binding: Tensor, points: Tensor) -> Tensor:
    """Inverse of the position map on one mesh (batch 0): μ_l = Rᵀ (p − C) / k. points [N, 3]."""
    r = frames.rotation[0, binding]
    k = frames.scale[0, binding, None].clamp_min(EPS)
    return (r.transpose(-1, -2) @ (points - frames.centre[0, binding])[..., None])[..., 0] / k
