"""Per-frame windows of consecutive frames, the GRMN's temporal context (docs/reference/motion-network.md)."""

from __future__ import annotations

import torch
from torch import Tensor


def frame_windows(x: Tensor, window: int = 8, frames: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Windows [t − window/2, t + window/2) around each frame, zero-padded past the ends.

    x: [N, ...] per-frame data (audio tokens [N, 16, D], AUs [N, 6], ...).
    frames: [B] frame indices to build windows for (default: all N).
    Returns (windows [B, window, ...], valid [B, window] bool: False on padding). The official
    code uses the same window and pads with zeros; ``valid`` lets the GRMN leave padding out of
    its window average.
    """
    n = x.shape[0]
    t = torch.arange(n, device=x.device) if frames is None else frames.to(x.device)
    index = t[:, None] + torch.arange(window, device=x.device) - window // 2      # [B, W]
    valid = (index >= 0) & (index < n)
    out = x[index.clamp(0, n - 1)]
    mask = valid.reshape(*valid.shape, *([1] * (x.dim() - 1)))
    return torch.where(mask, out, torch.zeros((), dtype=x.dtype, device=x.device)), valid
