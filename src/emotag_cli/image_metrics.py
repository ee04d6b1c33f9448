"""Image metrics on torch tensors (usable as losses): PSNR and SSIM.

Images are [B, 3, H, W] float in [0, 1]. SSIM follows Wang et al. 2004 with an 11×11 Gaussian
window (σ = 1.5), K1 = 0.01, K2 = 0.03, data range 1, valid (unpadded) filtering — the settings
of scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def psnr(a: Tensor, b: Tensor, mask: Tensor | None = None) -> Tensor:
    """PSNR in dB per image [B] (inf for identical images); mask [B, 1, H, W] restricts the mean."""
    se = (a - b) ** 2
    if mask is None:
        mse = se.flatten(1).mean(1)
    else:
        m = mask.expand_as(se)
        mse = (se * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)
    return 10 * torch.log10(1.0 / mse)


def _gaussian_window(size: int, sigma: float, channels: int, device, dtype) -> Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim_map(a: Tensor, b: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Per-pixel SSIM [B, C, H-10, W-10] (valid filtering)."""
    c = a.shape[1]
    w = _gaussian_window(window, sigma, c, a.device, a.dtype)

    def blur(x: Tensor) -> Tensor:
        return F.conv2d(x, w, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def ssim(a: Tensor, b: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean SSIM per image [B]; with mask [B, 1, H, W] the mean is over the (cropped) mask."""
    m = ssim_map(a, b)
    if mask is None:
        return m.flatten(1).mean(1)
    pad = (mask.shape[-1] - m.shape[-1]) // 2
    mm = mask[..., pad:pad + m.shape[-2], pad:pad + m.shape[-1]].expand_as(m)
    return (m * mm).flatten(1).sum(1) / mm.flatten(1).sum(1).clamp_min(1)


def psnr_to_mse(db: float) -> float:
    return math.pow(10, -db / 10)
