"""Real spherical harmonics up to degree 3, in the 3DGS / gsplat basis and sign convention."""

from __future__ import annotations

import torch
from torch import Tensor

_C0 = 0.28209479177387814
_C1 = 0.4886025119029199
_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
_C3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
       -0.4570457994644658, 1.445305721320277, -0.5900435899266435)


def num_sh_bases(degree: int) -> int:
    """Number of coefficients K of an expansion up to ``degree``: (degree + 1)²."""
    return (degree + 1) ** 2


def sh_basis(degree: int, dirs: Tensor) -> Tensor:
    """The basis functions [..., (degree+1)²] at unit-normalised directions ``dirs`` [..., 3]."""
    if not 0 <= degree <= 3:
        raise ValueError(f"sh_degree must be in 0..3, got {degree}")
    x, y, z = torch.unbind(dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-12), dim=-1)
    out = [torch.full_like(x, _C0)]
    if degree >= 1:
        out += [-_C1 * y, _C1 * z, -_C1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        out += [
            _C2[0] * x * y,
            _C2[1] * y * z,
            _C2[2] * (2 * zz - xx - yy),
            _C2[3] * x * z,
            _C2[4] * (xx - yy),
        ]
    if degree >= 3:
        out += [
            _C3[0] * y * (3 * xx - yy),
            _C3[1] * x * y * z,
            _C3[2] * y * (4 * zz - xx - yy),
            _C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
            _C3[4] * x * (4 * zz - xx - yy),
            _C3[5] * z * (xx - yy),
            _C3[6] * x * (xx - 3 * yy),
        ]
    return torch.stack(out, dim=-1)


def eval_sh(degree: int, dirs: Tensor, coeffs: Tensor) -> Tensor:
    """Colours [..., 3] from SH coefficients [..., K, 3] along view directions [..., 3].

    Only the first (degree + 1)² of the K coefficients are used. The result is the raw
    expansion; ``rasterize`` adds 0.5 and clamps at 0 as 3DGS and gsplat do.
    """
    k = num_sh_bases(degree)
    if coeffs.shape[-2] < k:
        raise ValueError(f"sh_degree {degree} needs {k} coefficients, got {coeffs.shape[-2]}")
    return (sh_basis(degree, dirs)[..., None] * coeffs[..., :k, :]).sum(dim=-2)


def sh_colors(coeffs: Tensor, sh_degree: int, means: Tensor, viewmats: Tensor) -> Tensor:
    """Per-camera colours [C, N, 3] of N Gaussians seen from C cameras.

    coeffs: [N, K, 3] or [C, N, K, 3] SH coefficients; means [N, 3]; viewmats [C, 4, 4]
    (world to camera). The view direction is from the camera centre to the Gaussian; the
    colour is max(SH + 0.5, 0), as in 3DGS and gsplat.
    """
    rot, t = viewmats[:, :3, :3], viewmats[:, :3, 3]
    cam_centres = -torch.einsum("cji,cj->ci", rot, t)  # -Rᵀ t
    dirs = means[None] - cam_centres[:, None]  # [C, N, 3]
    if coeffs.dim() == 3:
        coeffs = coeffs[None]
    return torch.clamp_min(eval_sh(sh_degree, dirs, coeffs) + 0.5, 0.0)
