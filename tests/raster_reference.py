"""A slow, obviously correct Gaussian-splatting renderer: the yardstick for every backend.

Float64, differentiable by plain autograd, and written independently of ``emotag_cli.raster``:
its own quaternion formula, its own spherical harmonics (derived from Legendre polynomials),
a 2x2 matrix inverse from torch.linalg, and compositing that walks the depth-sorted Gaussians
front to back with explicit per-pixel transmittance and "done" flags, exactly as 3DGS and
gsplat describe it:

    alpha = min(0.999, o exp(-½ dᵀ Σ₂⁻¹ d)), skipped below 1/255;
    a pixel stops (without that Gaussian) at the first one that would take T to <= 1e-4.

The conventions are gsplat 1.5.3's: OpenCV pinhole cameras, pixel centres at +0.5, a 0.3 px²
low-pass added to the 2D covariance, the projection Jacobian evaluated at the centre clamped to
1.3x the field of view, colours from SH as max(SH + 0.5, 0), expected depth sum(w z) / alpha.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numpy.polynomial import legendre, polynomial
from torch import Tensor


def rotation(quats: Tensor) -> Tensor:
    """[N, 3, 3] from wxyz quaternions: R = (w² - |v|²) I + 2 v vᵀ + 2 w [v]x."""
    q = quats / quats.norm(dim=-1, keepdim=True)
    w, v = q[:, 0], q[:, 1:]
    cross = torch.zeros(len(q), 3, 3, dtype=q.dtype)
    cross[:, 0, 1], cross[:, 0, 2] = -v[:, 2], v[:, 1]
    cross[:, 1, 0], cross[:, 1, 2] = v[:, 2], -v[:, 0]
    cross[:, 2, 0], cross[:, 2, 1] = -v[:, 1], v[:, 0]
    eye = torch.eye(3, dtype=q.dtype).expand(len(q), 3, 3)
    return ((w * w - (v * v).sum(-1))[:, None, None] * eye + 2 * v[:, :, None] * v[:, None, :]
            + 2 * w[:, None, None] * cross)


def _sh_terms(degree: int) -> list[tuple[float, np.ndarray, int]]:
    """(normalisation, polynomial in z, m) of each real SH basis function, l <= degree.

    Real SH with the Condon-Shortley phase, the basis 3DGS and gsplat use:
    Y_lm = c_lm P̃_lm(z) Re((x + iy)^m) for m >= 0 and c_lm P̃_l|m|(z) Im((x + iy)^|m|) for m < 0,
    with P̃_lm = (-1)^m d^m P_l / dz^m.
    """
    terms = []
    for deg in range(degree + 1):
        p = legendre.leg2poly(np.eye(deg + 1)[deg])
        for m in range(-deg, deg + 1):
            a = abs(m)
            poly = (-1) ** a * (polynomial.polyder(p, a) if a else p)
            norm = math.sqrt((2 * deg + 1) / (4 * math.pi) * math.factorial(deg - a) / math.factorial(deg + a))
            terms.append((norm * (math.sqrt(2) if m else 1.0), poly, m))
    return terms


def sh_basis(degree: int, dirs: Tensor) -> Tensor:
    """[..., (degree+1)²] real SH basis at directions [..., 3] (normalised here)."""
    x, y, z = torch.unbind(dirs / dirs.norm(dim=-1, keepdim=True), dim=-1)
    out = []
    for norm, poly, m in _sh_terms(degree):
        pz = sum(float(c) * z**k for k, c in enumerate(poly))
        re, im = torch.ones_like(x), torch.zeros_like(x)  # (x + iy)^|m|
        for _ in range(abs(m)):
            re, im = re * x - im * y, re * y + im * x
        out.append(norm * pz * (re if m >= 0 else im))
    return torch.stack(out, dim=-1)


def render(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    *,
    sh_degree: int | None = None,
    backgrounds: Tensor | None = None,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    eps2d: float = 0.3,
) -> dict[str, Tensor]:
    """Render C cameras; inputs as ``emotag_cli.raster.rasterize`` (colors [N, D], [C, N, D],
    or SH [N, K, 3] / [C, N, K, 3] with ``sh_degree``). Returns float64 tensors:
    colors [C, H, W, D], alphas [C, H, W, 1], depths [C, H, W, 1], normals [C, H, W, 3],
    means2d [C, N, 2]; and, to show which rules a scene exercises, the number of pixels that
    stopped early ("stopped") and of blended alphas clamped at 0.999 ("clamped")."""
    d64 = torch.float64
    means, quats, scales, opacities, colors, viewmats, Ks = (
        t.to(d64) for t in (means, quats, scales, opacities, colors, viewmats, Ks))
    C, N = len(viewmats), len(means)
    rot = rotation(quats)
    cov = rot @ torch.diag_embed(scales**2) @ rot.transpose(1, 2)
    shortest = rot[torch.arange(N), :, scales.argmin(dim=1)]  # [N, 3]

    ys, xs = torch.meshgrid(torch.arange(height, dtype=d64) + 0.5, torch.arange(width, dtype=d64) + 0.5,
                            indexing="ij")
    cams = [(viewmats[c, :3, :3], viewmats[c, :3, 3], Ks[c]) for c in range(C)]
    centres_c = [means @ W.T + t for W, t, _ in cams]  # camera space
    means2d = torch.stack([
        torch.stack([K[0, 0] * p[:, 0] / p[:, 2] + K[0, 2], K[1, 1] * p[:, 1] / p[:, 2] + K[1, 2]], dim=-1)
        for p, (_, _, K) in zip(centres_c, cams)])
    outs = {k: [] for k in ("colors", "alphas", "depths", "normals")}
    stopped = clamped = 0
    for cam in range(C):
        (W, t, K), p, mean2d = cams[cam], centres_c[cam], means2d[cam]
        fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
        cov_c = W @ cov @ W.T
        if sh_degree is None:
            col = colors if colors.dim() == 2 else colors[cam]
        else:
            coeffs = colors if colors.dim() == 3 else colors[cam]
            centre = -W.T @ t
            basis = sh_basis(sh_degree, means - centre)
            col = torch.clamp_min((basis[:, :, None] * coeffs[:, :basis.shape[1]]).sum(1) + 0.5, 0.0)
        n = shortest @ W.T
        n = torch.where(((n * p).sum(-1) > 0)[:, None], -n, n)

        bg = torch.zeros(col.shape[1], dtype=d64) if backgrounds is None else backgrounds[cam].to(d64)
        img = torch.zeros(height, width, col.shape[1], dtype=d64)
        depth = torch.zeros(height, width, dtype=d64)
        normal = torch.zeros(height, width, 3, dtype=d64)
        T = torch.ones(height, width, dtype=d64)
        done = torch.zeros(height, width, dtype=torch.bool)
        for i in torch.argsort(p[:, 2]).tolist():
            z = p[i, 2]
            if not (near_plane <= z <= far_plane):
                continue
            # The Jacobian's centre is clamped to 30 % of the half field of view beyond the image.
            margin_x, margin_y = 0.3 * 0.5 * width / fx, 0.3 * 0.5 * height / fy
            u = torch.clamp(p[i, 0] / z, -cx / fx - margin_x, (width - cx) / fx + margin_x)
            v = torch.clamp(p[i, 1] / z, -cy / fy - margin_y, (height - cy) / fy + margin_y)
            J = torch.stack([torch.stack([fx / z, z * 0, -fx * u / z]), torch.stack([z * 0, fy / z, -fy * v / z])])
            cov2d = J @ cov_c[i] @ J.T + eps2d * torch.eye(2, dtype=d64)
            Q = torch.linalg.inv(cov2d)
            dx, dy = xs - mean2d[i, 0], ys - mean2d[i, 1]
            sigma = 0.5 * (Q[0, 0] * dx * dx + (Q[0, 1] + Q[1, 0]) * dx * dy + Q[1, 1] * dy * dy)
            raw = opacities[i] * torch.exp(-sigma)
            alpha = torch.clamp_max(raw, 0.999)
            active = ~done & (alpha >= 1.0 / 255.0)
            clamped += int((active & (raw > 0.999)).sum())
            next_T = T * (1 - alpha)
            stop = active & (next_T <= 1e-4)
            done = done | stop
            use = active & ~stop
            w = torch.where(use, alpha * T, torch.zeros_like(T))
            img = img + w[..., None] * col[i]
            depth = depth + w * z
            normal = normal + w[..., None] * n[i]
            T = torch.where(use, next_T, T)
        acc = 1 - T
        stopped += int(done.sum())
        outs["colors"].append(img + T[..., None] * bg)
        outs["alphas"].append(acc[..., None])
        outs["depths"].append((depth / acc.clamp_min(1e-10))[..., None])
        outs["normals"].append(normal)
    return {"means2d": means2d, "stopped": stopped, "clamped": clamped,
            **{k: torch.stack(v) for k, v in outs.items()}}
