"""Training losses of EmoTaG (docs/reference/motion-network.md), on [B, C, H, W] maps like image_metrics.

    L = L_render + w_flame·L_flame + 0.01·L_KL + 0.1·L_Score (+ 0.01·L_D + 0.001·L_N in adaptation)

- render: L1 + 0.2·(1 − SSIM) on the head region (the paper's form; the official code weighs
  the L1 by 0.8 — ``l1_weight``).
- flame: MSE of the predicted expression and jaw to the tracked ones (official code only; kept
  per docs/reference/motion-network.md: w_flame 1.0 in pretraining, 0.1 in adaptation).
- SEG: KL(p_emo ‖ softmax(z_e)) and |g − e| with e = 1 − p_emo(neutral).
- geometry (adaptation only): row-normalised depth and normals against pseudo ground truth.

Masks are [B, 1, H, W] in {0, 1} (float or bool). Each masked loss is a mean over the masked
pixels; an empty mask gives 0 with a zero gradient rather than NaN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..image_metrics import ssim_map
from .control import emotion_score

W_KL = 0.01
W_SCORE = 0.1
W_DSSIM = 0.2
W_DEPTH = 0.01
W_NORMAL = 0.001


def _masked_mean(x: Tensor, mask: Tensor | None) -> Tensor:
    if mask is None:
        return x.mean()
    m = mask.to(x.dtype).expand_as(x)
    return (x * m).sum() / m.sum().clamp_min(1.0)


def render_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None, dssim_weight: float = W_DSSIM,
                l1_weight: float = 1.0) -> Tensor:
    """l1_weight·L1 + dssim_weight·(1 − SSIM) of images [B, 3, H, W] in [0, 1].

    With a head mask, both terms average over the masked pixels (SSIM over the mask cropped to
    SSIM's valid region). SSIM windows near the mask edge still see outside pixels, so composite
    both images over the same background outside the head first, as the official code does with
    its green background.
    """
    l1 = _masked_mean((pred - target).abs(), mask)
    s = ssim_map(pred, target)
    if mask is not None:
        pad_y, pad_x = (mask.shape[-2] - s.shape[-2]) // 2, (mask.shape[-1] - s.shape[-1]) // 2
        mask = mask[..., pad_y:pad_y + s.shape[-2], pad_x:pad_x + s.shape[-1]]
    return l1_weight * l1 + dssim_weight * (1 - _masked_mean(s, mask))


def flame_loss(expr: Tensor, jaw: Tensor, expr_target: Tensor, jaw_target: Tensor) -> Tensor:
    """MSE(Ψ, Ψ_track) + MSE(Θ_jaw, Θ_jaw,track): [B, n_expr] and [B, 3] each (tracked expression
    beyond the predicted coefficients is ignored)."""
    return F.mse_loss(expr, expr_target[..., :expr.shape[-1]]) + F.mse_loss(jaw, jaw_target)


def emotion_kl_loss(logits: Tensor, p_emo: Tensor) -> Tensor:
    """KL(p_emo ‖ softmax(z_e)), averaged over the batch: logits z_e and teacher p_emo [B, 7].
    0 when the two distributions agree; zero-probability teacher classes contribute nothing."""
    return F.kl_div(F.log_softmax(logits, -1), p_emo, reduction="batchmean")


def gate_loss(gate: Tensor, p_emo: Tensor) -> Tensor:
    """mean |g − e|, e = 1 − p_emo(neutral): gate [B, 1] (the predicted one), p_emo [B, 7]."""
    return (gate - emotion_score(p_emo)).abs().mean()


def seg_loss(logits: Tensor, gate: Tensor, p_emo: Tensor, w_kl: float = W_KL, w_score: float = W_SCORE) -> Tensor:
    """Semantic Emotion Guidance: w_kl·L_KL + w_score·L_Score."""
    return w_kl * emotion_kl_loss(logits, p_emo) + w_score * gate_loss(gate, p_emo)


def row_normalize(depth: Tensor, mask: Tensor, rel_eps: float = 0.01) -> Tensor:
    """(x − mean_row x) / (std_row x + rel_eps·σ) over the masked pixels of each image row.

    depth, mask [B, 1, H, W]. σ is the std of the row-centred masked depth of the whole image.
    The paper writes std(x), the plain image std; taking it after centring the rows changes
    only this small stabiliser and makes the result exactly invariant to a different offset per row
    (and to one positive scale per image). Statistics ignore pixels outside the mask — rendered
    depth is 0 where nothing was drawn and a pseudo ground truth is undefined off the head, so
    including them would compare the background offsets. Unmasked pixels come out as 0.
    """
    m = mask.to(depth.dtype)
    x = torch.where(m > 0, depth, torch.zeros_like(depth))                 # NaN/inf off the mask → 0
    count = m.sum(-1, keepdim=True)
    mean = (x * m).sum(-1, keepdim=True) / count.clamp_min(1)
    centred = (x - mean) * m
    # + 1e-12 inside the roots: a row with one masked pixel has std 0, where sqrt's gradient is inf.
    std_row = (centred.square().sum(-1, keepdim=True) / count.clamp_min(1) + 1e-12).sqrt()
    total = m.sum((-3, -2, -1), keepdim=True).clamp_min(1)
    sigma = (centred.square().sum((-3, -2, -1), keepdim=True) / total + 1e-12).sqrt()
    return centred / (std_row + rel_eps * sigma + 1e-12)


def depth_loss(depth: Tensor, depth_target: Tensor, mask: Tensor) -> Tensor:
    """L_D = mean over the mask of |norm(D) − norm(D_target)|, depth maps [B, 1, H, W]."""
    m = mask.to(depth.dtype)
    return _masked_mean((row_normalize(depth, m) - row_normalize(depth_target, m)).abs(), m)


def normal_loss(normals: Tensor, normals_target: Tensor, mask: Tensor) -> Tensor:
    """L_N = mean over the mask (and the 3 channels) of |N − N_target|, normals [B, 3, H, W] in the
    same (camera) frame."""
    diff = (normals - torch.nan_to_num(normals_target)).abs()
    return _masked_mean(diff, mask)


def geometry_loss(depth: Tensor, depth_target: Tensor, normals: Tensor, normals_target: Tensor, mask: Tensor,
                  w_depth: float = W_DEPTH, w_normal: float = W_NORMAL) -> Tensor:
    """L_Geo = w_depth·L_D + w_normal·L_N (adaptation only)."""
    return w_depth * depth_loss(depth, depth_target, mask) + w_normal * normal_loss(normals, normals_target, mask)
