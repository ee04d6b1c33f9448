"""EWA projection of 3D Gaussians to screen-space conics (pinhole, OpenCV camera).

Conventions follow gsplat 1.5.3: world-to-camera ``viewmats`` [C, 4, 4], intrinsics ``Ks``
[C, 3, 3], x right / y down / z forward, pixel (i, j) has its centre at (j + 0.5, i + 0.5).
Everything here is plain differentiable torch; only the culling and the radii are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

ALPHA_MIN = 1.0 / 255.0  # a Gaussian's alpha below this is skipped at a pixel (3DGS / gsplat)
MAX_EXTENT = 3.33  # cap of the bounding-box half size in standard deviations (gsplat)
FOV_MARGIN = 0.3  # the Jacobian is evaluated at most 30 % of the half field of view off-screen


@dataclass
class Projection:
    """Screen-space Gaussians for C cameras and N Gaussians.

    means2d: [C, N, 2] pixel coordinates of the centres.
    conics: [C, N, 3] (a, b, c), the inverse 2D covariance [[a, b], [b, c]] in 1/px².
    depths: [C, N] camera-space z (the units of ``means``).
    radii: [C, N, 2] int32 half sizes of the bounding box in whole pixels (gsplat's ``radii``);
        0 for culled Gaussians. Not differentiable.
    cutoffs: [C, N] squared Mahalanobis radius e² beyond which alpha < 1/255 (0 where culled).
    """

    means2d: Tensor
    conics: Tensor
    depths: Tensor
    radii: Tensor
    cutoffs: Tensor

    @property
    def visible(self) -> Tensor:
        """[C, N] bool: not culled."""
        return (self.radii > 0).any(dim=-1)


def quat_to_rotmat(quats: Tensor) -> Tensor:
    """Rotation matrices [..., 3, 3] from quaternions [..., 4] (w, x, y, z; normalised here)."""
    w, x, y, z = torch.unbind(quats / quats.norm(dim=-1, keepdim=True), dim=-1)
    rows = (
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    )
    return torch.stack(rows, dim=-1).reshape(quats.shape[:-1] + (3, 3))


def project(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    eps2d: float = 0.3,
    radius_clip: float = 0.0,
) -> Projection:
    """Project N Gaussians into C pinhole cameras.

    means [N, 3], quats [N, 4] (wxyz), scales [N, 3] (activated, same units as means),
    opacities [N] in [0, 1], viewmats [C, 4, 4], Ks [C, 3, 3].

    The 2D covariance is J W Σ Wᵀ Jᵀ + eps2d·I: the local affine (EWA) approximation of the
    perspective map plus a low-pass filter of ``eps2d`` px² that keeps every splat at least
    about a pixel wide. As in gsplat, the Jacobian J is evaluated at the centre clamped to 30 %
    of the half field of view beyond the image borders, so that splats far off-screen do not
    explode.

    A Gaussian is culled in a camera (radii 0) when its depth is outside
    [near_plane, far_plane], its opacity is below 1/255, both radii are <= radius_clip, or its
    box lies entirely outside the image. The box half size along x is e·sqrt(Σ2d_xx) with
    e = min(3.33, sqrt(2 ln(255·opacity))), so alpha < 1/255 everywhere outside it.
    """
    if near_plane <= 0:
        raise ValueError(f"near_plane must be positive, got {near_plane}")
    rot = viewmats[:, :3, :3]  # [C, 3, 3]
    means_c = torch.einsum("cij,nj->cni", rot, means) + viewmats[:, None, :3, 3]  # [C, N, 3]
    # Σ = M Mᵀ with M = R diag(s); in camera space M_c = W M.
    m_world = quat_to_rotmat(quats) * scales[:, None, :]  # [N, 3, 3]
    m_cam = torch.einsum("cij,njk->cnik", rot, m_world)  # [C, N, 3, 3]

    z = means_c[..., 2]
    in_depth = (z >= near_plane) & (z <= far_plane)
    # Culled Gaussians still go through the arithmetic below; a safe depth keeps NaN and inf
    # out of both passes (torch.where sends them no gradient).
    z_safe = torch.where(in_depth, z, torch.ones_like(z))
    fx, fy = Ks[:, 0, 0, None], Ks[:, 1, 1, None]  # [C, 1]
    cx, cy = Ks[:, 0, 2, None], Ks[:, 1, 2, None]
    u = means_c[..., 0] / z_safe
    v = means_c[..., 1] / z_safe
    means2d = torch.stack([fx * u + cx, fy * v + cy], dim=-1)

    lim_x = FOV_MARGIN * 0.5 * width / fx
    lim_y = FOV_MARGIN * 0.5 * height / fy
    u_j = torch.maximum(torch.minimum(u, (width - cx) / fx + lim_x), -cx / fx - lim_x)
    v_j = torch.maximum(torch.minimum(v, (height - cy) / fy + lim_y), -cy / fy - lim_y)
    # Rows of J M_c, with J = [[fx/z, 0, -fx u/z], [0, fy/z, -fy v/z]].
    jm0 = (fx / z_safe)[..., None] * (m_cam[..., 0, :] - u_j[..., None] * m_cam[..., 2, :])
    jm1 = (fy / z_safe)[..., None] * (m_cam[..., 1, :] - v_j[..., None] * m_cam[..., 2, :])
    cov_xx = (jm0 * jm0).sum(-1) + eps2d
    cov_xy = (jm0 * jm1).sum(-1)
    cov_yy = (jm1 * jm1).sum(-1) + eps2d
    det = cov_xx * cov_yy - cov_xy * cov_xy
    det_safe = torch.where(det > 0, det, torch.ones_like(det))
    conics = torch.stack([cov_yy / det_safe, -cov_xy / det_safe, cov_xx / det_safe], dim=-1)

    with torch.no_grad():
        opac = opacities.detach().expand_as(z)
        cutoff = (2.0 * torch.log(opac.clamp_min(ALPHA_MIN) / ALPHA_MIN)).clamp_max(MAX_EXTENT**2)
        radii = torch.ceil(torch.stack([cov_xx, cov_yy], dim=-1).sqrt() * cutoff.sqrt()[..., None])
        m2 = means2d.detach()
        visible = (
            in_depth
            & (det > 0)
            & (opac >= ALPHA_MIN)
            & ~((radii[..., 0] <= radius_clip) & (radii[..., 1] <= radius_clip))
            & (m2[..., 0] + radii[..., 0] > 0)
            & (m2[..., 0] - radii[..., 0] < width)
            & (m2[..., 1] + radii[..., 1] > 0)
            & (m2[..., 1] - radii[..., 1] < height)
        )
        radii = torch.where(visible[..., None], radii, torch.zeros_like(radii)).to(torch.int32)
        cutoff = torch.where(visible, cutoff, torch.zeros_like(cutoff))
    return Projection(means2d=means2d, conics=conics, depths=z, radii=radii, cutoffs=cutoff)
