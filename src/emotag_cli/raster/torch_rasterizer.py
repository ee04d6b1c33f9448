"""The pure-PyTorch rasterizer: projection, tile binning, compositing; any device, fast on CPU."""

from __future__ import annotations

import torch
from torch import Tensor

from .composite import Layout, composite, pixel_basis
from .normals import shortest_axis_normals
from .projection import project
from .rendered import Rendered
from .tiles import bin_gaussians, choose_tile_size, plan_chunks


def rasterize_torch(
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
    tile_size: int | None,
    normals: bool,
    chunk_elements: int = 1 << 17,
) -> Rendered:
    """See ``rasterize``; ``colors`` here are final per-camera colours [C, N, D].

    tile_size None picks 4 or 8 px from the splats' sizes; chunk_elements bounds the dense
    [tiles, L, pixels] blocks (about 0.5 MB each at the default, which suits a CPU's L2 cache).
    """
    C, N, D = colors.shape
    proj = project(means, quats, scales, opacities, viewmats, Ks, width, height,
                   near_plane=near_plane, far_plane=far_plane, eps2d=eps2d, radius_clip=radius_clip)
    visible = proj.visible
    tile_size = tile_size or choose_tile_size(proj.radii)
    bins = bin_gaussians(proj.means2d.detach(), proj.conics.detach(), proj.cutoffs, proj.depths.detach(),
                         visible, width, height, tile_size)

    feats = [colors, proj.depths[..., None]]
    if normals:
        feats.append(shortest_axis_normals(means, quats, scales, viewmats))
    feats = torch.cat(feats, dim=-1)
    feats = feats.reshape(C * N, feats.shape[-1])

    layout = Layout(plan_chunks(bins, chunk_elements), bins.n_tiles,
                    -pixel_basis(tile_size, means.dtype, means.device))
    # Culled Gaussians are never looked up, so their log(0) cannot reach the result.
    log_opac = torch.log(opacities.clamp_min(1e-30)).expand(C, N).reshape(-1)
    out, acc = composite(proj.means2d.reshape(-1, 2), proj.conics.reshape(-1, 3), log_opac, feats, layout)

    T = tile_size

    def to_image(x: Tensor) -> Tensor:  # [C*ty*tx, K, T*T] -> [C, H, W, K]
        k = x.shape[1]
        x = x.reshape(C, bins.tiles_y, bins.tiles_x, k, T, T).permute(0, 1, 4, 2, 5, 3)
        return x.reshape(C, bins.tiles_y * T, bins.tiles_x * T, k)[:, :height, :width]

    out = to_image(out)
    alphas = to_image(acc[:, None])
    rgb = out[..., :D]
    if backgrounds is not None:
        rgb = rgb + (1.0 - alphas) * backgrounds[:, None, None, :]
    depths = out[..., D:D + 1] / alphas.clamp_min(1e-10)
    meta = {
        "camera_ids": None,
        "gaussian_ids": None,
        "radii": proj.radii,
        "means2d": proj.means2d,
        "depths": proj.depths,
        "conics": proj.conics,
        "opacities": opacities.expand(C, N),
        "tiles_per_gauss": torch.bincount(bins.pair_gaussian, minlength=C * N).reshape(C, N).to(torch.int32),
        "tile_width": bins.tiles_x,
        "tile_height": bins.tiles_y,
        "tile_size": tile_size,
        "width": width,
        "height": height,
        "n_cameras": C,
        "rasterizer": "torch",
    }
    return Rendered(rgb, alphas, depths, out[..., D + 1:] if normals else None, meta)
