"""Rendering mesh-bound Gaussians on a posed mesh through one camera."""

from __future__ import annotations

from torch import Tensor

from ..raster import Rendered, rasterize
from .binding import triangle_frames
from .params import GaussianParams


def render_on_mesh(gs: GaussianParams, verts: Tensor, faces: Tensor, K: Tensor, w2c: Tensor, size: int,
                   normals: bool = False, rasterizer: str = "auto", mouth_deltas=None) -> tuple[Rendered, Tensor]:
    """Render the Gaussians bound to mesh ``verts`` [V, 3] (world) with intrinsics K [3, 3] and
    world-to-camera w2c [4, 4] into a size×size image over a black background.

    mouth_deltas: optional callable (means, quats, scales) → (means, quats, scales) applied after
    the mesh deformation (the intra-oral refinement).
    Returns (Rendered with a camera batch of 1, world scales [N, 3] for densification).
    """
    frames = triangle_frames(verts[None], faces)
    means, quats, scales = (x[0] for x in gs.world(frames))
    if mouth_deltas is not None:
        means, quats, scales = mouth_deltas(means, quats, scales)
    out = rasterize(means, quats, scales, gs.opacities(), gs.sh(), w2c[None], K[None], size, size,
                    sh_degree=gs.sh_degree, normals=normals, rasterizer=rasterizer)
    return out, scales


def composite(rendered: Rendered, backdrop: Tensor) -> Tensor:
    """[3, S, S] image: the render over ``backdrop`` [3, S, S] (colours are premultiplied)."""
    rgb = rendered.colors[0].permute(2, 0, 1)
    alpha = rendered.alphas[0].permute(2, 0, 1)
    return rgb + (1 - alpha) * backdrop


__all__ = ["composite", "render_on_mesh"]
