"""``rasterize``: one entry point, gsplat's calling convention, two rasterizers (gsplat's CUDA one, ours in torch)."""

from __future__ import annotations

from typing import Literal

from torch import Tensor

from ..backends import has_module
from ..errors import EmotagError, MissingBackendError
from .rendered import Rendered
from .sh import sh_colors

Rasterizer = Literal["auto", "gsplat", "torch"]


def rasterize(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    radius_clip: float = 0.0,
    eps2d: float = 0.3,
    sh_degree: int | None = None,
    packed: bool = False,
    tile_size: int | None = None,
    backgrounds: Tensor | None = None,
    *,
    normals: bool = False,
    rasterizer: Rasterizer = "auto",
) -> Rendered:
    """Render N 3D Gaussians into C pinhole cameras.

    means [N, 3]; quats [N, 4] (w, x, y, z; need not be unit); scales [N, 3] (activated, i.e.
    standard deviations in the units of means, not log); opacities [N] in [0, 1];
    colors [N, D] or [C, N, D] final colours/features, or, with ``sh_degree`` set, SH
    coefficients [N, K, 3] or [C, N, K, 3] with K >= (sh_degree + 1)²;
    viewmats [C, 4, 4] world-to-camera (OpenCV: x right, y down, z forward); Ks [C, 3, 3];
    backgrounds [C, D] or None (black). width, height in pixels.

    near_plane, far_plane: Gaussians whose camera-space depth lies outside are culled.
    radius_clip: Gaussians whose projected radii are both <= this (px) are culled.
    eps2d: the low-pass filter (px²) added to every 2D covariance, as in 3DGS.
    packed: only False (gsplat's dense [C, N] layout) is supported.
    tile_size: None for the rasterizer's default (gsplat: 16; torch: 4 or 8 px, from the splat sizes).

    Returns ``Rendered(colors [C, H, W, D], alphas [C, H, W, 1], depths [C, H, W, 1],
    normals [C, H, W, 3] or None, meta)``. depths is the expected depth sum(w z) / alpha
    (gsplat's "ED"). normals (only with ``normals=True``) is the alpha-composited camera-space
    shortest axis of each Gaussian, turned towards the camera.

    meta follows gsplat's ``packed=False`` layout: means2d [C, N, 2] (call retain_grad() on it
    before backward to read the screen-space gradients densification uses), radii [C, N, 2]
    int32 (0 = culled), depths [C, N], conics [C, N, 3], opacities [C, N], width, height,
    tile_size, tile_width, tile_height, n_cameras, and "rasterizer" ("gsplat" or "torch").

    rasterizer: "gsplat" needs CUDA tensors and gsplat; "torch" runs anywhere (differentiable with
    respect to means, quats, scales, opacities, colors and viewmats); "auto" takes gsplat for
    CUDA tensors when it is installed and torch otherwise.
    """
    C, N = viewmats.shape[0], means.shape[0]
    _check_shapes(means, quats, scales, opacities, colors, viewmats, Ks, sh_degree, backgrounds)
    if packed:
        raise ValueError("only packed=False is supported (the [C, N] meta layout)")
    if _use_gsplat(rasterizer, means):
        from .gsplat_rasterizer import rasterize_gsplat

        return rasterize_gsplat(
            means, quats, scales, opacities, colors, viewmats, Ks, width, height, backgrounds,
            near_plane=near_plane, far_plane=far_plane, radius_clip=radius_clip, eps2d=eps2d,
            sh_degree=sh_degree, tile_size=tile_size or 16, normals=normals)

    from .torch_rasterizer import rasterize_torch

    if sh_degree is None:
        feats = colors if colors.dim() == 3 else colors[None].expand(C, N, colors.shape[-1])
    else:
        feats = sh_colors(colors, sh_degree, means, viewmats)
    return rasterize_torch(
        means, quats, scales, opacities, feats, viewmats, Ks, width, height, backgrounds,
        near_plane=near_plane, far_plane=far_plane, radius_clip=radius_clip, eps2d=eps2d,
        tile_size=tile_size, normals=normals)


def _use_gsplat(rasterizer: str, means: Tensor) -> bool:
    if rasterizer == "torch":
        return False
    if rasterizer == "auto":
        return means.is_cuda and has_module("gsplat")
    if rasterizer == "gsplat":
        if not means.is_cuda:
            raise EmotagError("the gsplat rasterizer needs CUDA tensors; use rasterizer='torch' on CPU")
        if not has_module("gsplat"):
            raise MissingBackendError("gsplat is not installed: pip install 'emotag[gpu]' (gsplat==1.5.3)")
        return True
    raise ValueError(f"rasterizer must be 'auto', 'gsplat' or 'torch', got {rasterizer!r}")


def _check_shapes(means: Tensor, quats: Tensor, scales: Tensor, opacities: Tensor, colors: Tensor,
                  viewmats: Tensor, Ks: Tensor, sh_degree: int | None, backgrounds: Tensor | None) -> None:
    C, N = viewmats.shape[0], means.shape[0]
    expected = {"means": (means, (N, 3)), "quats": (quats, (N, 4)), "scales": (scales, (N, 3)),
                "opacities": (opacities, (N,)), "viewmats": (viewmats, (C, 4, 4)), "Ks": (Ks, (C, 3, 3))}
    for name, (t, shape) in expected.items():
        if tuple(t.shape) != shape:
            raise ValueError(f"{name} must have shape {list(shape)}, got {list(t.shape)}")
    lead = colors.shape[:-1] if sh_degree is None else colors.shape[:-2]
    if lead not in ((N,), (C, N)) or (sh_degree is not None and colors.shape[-1] != 3):
        want = "[N, D] or [C, N, D]" if sh_degree is None else "[N, K, 3] or [C, N, K, 3]"
        raise ValueError(f"colors must have shape {want}, got {list(colors.shape)}")
    if backgrounds is not None:
        d = colors.shape[-1] if sh_degree is None else 3
        if tuple(backgrounds.shape) != (C, d):
            raise ValueError(f"backgrounds must have shape [{C}, {d}], got {list(backgrounds.shape)}")
