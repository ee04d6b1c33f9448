"""Image and geometry losses of the appearance fit (METHOD.md §2.6, §3)."""

from __future__ import annotations

from torch import Tensor

from ..evaluation.image_metrics import ssim_map


def render_loss(pred: Tensor, target: Tensor, dssim_weight: float = 0.2) -> Tensor:
    """L1 + λ·D-SSIM with D-SSIM = 1 − SSIM and λ = 0.2 (METHOD.md §3).

    pred, target [3, S, S] in [0, 1]. Pixels outside the head are the same backdrop in both, so
    the loss measures the head region and any opacity that leaks outside it.
    """
    l1 = (pred - target).abs().mean()
    return l1 + dssim_weight * (1 - ssim_map(pred[None], target[None]).mean())


def row_normalise(x: Tensor, mask: Tensor) -> Tensor:
    """(x − row mean) / (row std + 0.01·global std) over masked pixels, per image row (METHOD §2.6)."""
    m = mask
    count = m.sum(-1, keepdim=True).clamp_min(1)
    mean = (x * m).sum(-1, keepdim=True) / count
    std = (((x - mean) ** 2 * m).sum(-1, keepdim=True) / count + 1e-12).sqrt()   # finite gradient at 0
    total = x[m > 0]
    global_std = total.std() if total.numel() > 1 else x.new_tensor(1.0)
    return (x - mean) / (std + 0.01 * global_std)


def depth_loss(depth: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """mean |M·norm(D) − M·norm(D_target)| with per-row normalisation; depth/target/mask [1, S, S]."""
    if mask.sum() < 2:
        return depth.new_zeros(())
    return ((row_normalise(depth, mask) - row_normalise(target, mask)).abs() * mask).sum() / mask.sum()


def normal_loss(normals: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """mean |M·N − M·N_target| over masked pixels; normals/target [3, S, S], mask [1, S, S]."""
    if mask.sum() < 1:
        return normals.new_zeros(())
    return ((normals - target).abs() * mask).sum() / (3 * mask.sum())
