"""Initial Gaussians on a mesh: area-uniform samples, bound to the triangle they fall on."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from ..raster.sh import num_sh_bases
from .binding import local_from_world, triangle_frames
from .params import GaussianParams

SH_C0 = 0.28209479177387814


def sample_on_mesh(verts: Tensor, faces: Tensor, n: int, generator: torch.Generator | None = None,
                   face_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """n points uniform by area on a mesh → (binding [n] int64, barycentric [n, 3]).

    verts [V, 3]; faces [F, 3]; face_mask [F] bool restricts sampling to some triangles.
    """
    v0, v1, v2 = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    area = torch.linalg.cross(v1 - v0, v2 - v0).norm(dim=-1) / 2
    if face_mask is not None:
        area = area * face_mask
    binding = torch.multinomial(area / area.sum(), n, replacement=True, generator=generator)
    u = torch.rand(n, 2, generator=generator, dtype=verts.dtype)
    flip = u.sum(-1) > 1                                        # fold the square onto the triangle
    u[flip] = 1 - u[flip]
    bary = torch.stack([1 - u[:, 0] - u[:, 1], u[:, 0], u[:, 1]], -1)
    return binding, bary


def _knn_distance(points: np.ndarray, k: int = 3) -> np.ndarray:
    """Mean distance of each point to its k nearest neighbours."""
    from scipy.spatial import cKDTree

    d, _ = cKDTree(points).query(points, k=k + 1)
    return d[:, 1:].mean(1)


def init_on_mesh(verts: Tensor, faces: Tensor, n: int, sh_degree: int = 1, opacity: float = 0.1,
                 colour: float = 0.5, seed: int = 0, face_mask: Tensor | None = None) -> GaussianParams:
    """N Gaussians on the mesh (verts [V, 3], the canonical pose), isotropic, grey.

    Each centre is a barycentric point of its parent triangle, stored in that triangle's frame so
    that deforming with the same mesh puts it back exactly there. The initial size is the mean
    distance to the 3 nearest neighbours (the 3DGS recipe), in triangle-scale units.
    """
    g = torch.Generator().manual_seed(seed)
    verts = verts.detach().float()
    binding, bary = sample_on_mesh(verts, faces, n, g, face_mask)
    points = torch.einsum("nk,nkc->nc", bary, verts[faces[binding]])
    frames = triangle_frames(verts, faces)
    local = local_from_world(frames, binding, points)
    dist = torch.from_numpy(_knn_distance(points.numpy())).float().clamp_min(1e-7)
    k = frames.scale[0, binding].clamp_min(1e-9)
    log_scale = torch.log(dist / k)[:, None].repeat(1, 3)
    quats = torch.zeros(n, 4)
    quats[:, 0] = 1
    n_rest = num_sh_bases(sh_degree) - 1
    sh0 = torch.full((n, 1, 3), (colour - 0.5) / SH_C0)
    params = nn.ParameterDict({
        "means": nn.Parameter(local),
        "quats": nn.Parameter(quats),
        "scales": nn.Parameter(log_scale),
        "opacities": nn.Parameter(torch.full((n,), math.log(opacity / (1 - opacity)))),
        "sh0": nn.Parameter(sh0),
        "shN": nn.Parameter(torch.zeros(n, n_rest, 3)),
    })
    return GaussianParams(params, binding, sh_degree)
