"""GaussianAvatars' regularisers of the local parameters (docs/reference/motion-network.md)."""

from __future__ import annotations

from torch import Tensor


def position_loss(local_means: Tensor, threshold: float = 1.0) -> Tensor:
    """mean(max(0, ‖μ_l‖ − threshold)): keeps Gaussians near their triangle (λ = 0.01)."""
    return (local_means.norm(dim=-1) - threshold).clamp_min(0).mean()


def scale_loss(local_scales: Tensor, threshold: float = 0.6) -> Tensor:
    """mean(max(0, s_l − threshold)) on activated local scales: no Gaussian much larger than its
    triangle (λ = 1)."""
    return (local_scales - threshold).clamp_min(0).mean()
