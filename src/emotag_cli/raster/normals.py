"""Per-Gaussian normals for the geometry loss: the shortest axis, seen from the camera."""

from __future__ import annotations

import torch
from torch import Tensor

from .projection import quat_to_rotmat


def shortest_axis_normals(means: Tensor, quats: Tensor, scales: Tensor, viewmats: Tensor) -> Tensor:
    """Camera-space unit normals [C, N, 3] of N Gaussians in C cameras.

    A flat Gaussian approximates a surface element whose normal is its shortest axis (the
    column of its rotation with the smallest scale). The axis' sign is arbitrary, so it is
    turned to face the camera: n · x_c <= 0, where x_c is the centre in camera space.
    Differentiable with respect to quats and viewmats (the choice of axis is not).
    """
    rot = quat_to_rotmat(quats)  # [N, 3, 3], columns are the axes
    k = scales.detach().argmin(dim=-1)
    axis = torch.gather(rot, 2, k[:, None, None].expand(-1, 3, 1)).squeeze(-1)  # [N, 3]
    view_rot = viewmats[:, :3, :3]
    n_cam = torch.einsum("cij,nj->cni", view_rot, axis)
    centres = torch.einsum("cij,nj->cni", view_rot, means) + viewmats[:, None, :3, 3]
    away = (n_cam * centres).sum(dim=-1, keepdim=True) > 0
    return torch.where(away, -n_cam, n_cam)
