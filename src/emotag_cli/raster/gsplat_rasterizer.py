"""The CUDA path: a thin wrapper over ``gsplat.rasterization`` (gsplat 1.5.3).

gsplat renders colours and expected depth in one pass ("RGB+ED": depth is the last channel).
Normals ride along as three extra colour channels with a zero background; when they are
requested with SH colours, the SH is evaluated here first, since gsplat cannot append channels
to SH coefficients.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .normals import shortest_axis_normals
from .rendered import Rendered
from .sh import sh_colors


def rasterize_gsplat(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    backgrounds: Tensor | None,
    *,
    near_plane: float,
    far_plane: float,
    radius_clip: float,
    eps2d: float,
    sh_degree: int | None,
    tile_size: int,
    normals: bool,
) -> Rendered:
    """See ``rasterize``. Imports gsplat, so call it only for CUDA tensors."""
    from gsplat import rasterization

    C, N = viewmats.shape[0], means.shape[0]
    if normals:
        if sh_degree is not None:
            colors, sh_degree = sh_colors(colors, sh_degree, means, viewmats), None
        elif colors.dim() == 2:
            colors = colors[None].expand(C, N, colors.shape[-1])
        D = colors.shape[-1]
        colors = torch.cat([colors, shortest_axis_normals(means, quats, scales, viewmats)], dim=-1)
        if backgrounds is not None:
            backgrounds = torch.cat([backgrounds, backgrounds.new_zeros(C, 3)], dim=-1)
    else:
        D = colors.shape[-1]
    render, alphas, meta = rasterization(
        means, quats, scales, opacities, colors, viewmats, Ks, width, height,
        near_plane=near_plane, far_plane=far_plane, radius_clip=radius_clip, eps2d=eps2d,
        sh_degree=sh_degree, packed=False, tile_size=tile_size, backgrounds=backgrounds,
        render_mode="RGB+ED")
    meta["rasterizer"] = "gsplat"
    return Rendered(render[..., :D], alphas, render[..., -1:],
                    render[..., D:D + 3] if normals else None, meta)
