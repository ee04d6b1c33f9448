"""The emotion residual anchored on real emotion directions: δ_r = Σ_k π_k·s_k·E_k + C(h, π).

``E_k [motion_dim]`` are the unit emotion directions the motion config carries (estimated from
tracked emotional faces, head/emotion_directions.py; a zero row for neutral and for any class the
file has none for); ``s_k > 0`` are learnable per-class scales, initialised at each direction's
natural magnitude (so s_k·E_k starts as the mean real change from neutral to emotion k). C is the
residual decoder's learned, audio-dependent correction, projected onto the orthogonal complement
of span{E_k}: it adapts everything the directions leave free (lip shapes under speech, the
person), but cannot push the face along or against an emotion. Hence, for a request of class k
at intensity i (π = i·onehot(k) + (1 − i)·onehot(neutral), g = i, control.py), the motion's
component in span{E} is exactly i²·s_k·E_k: zero at i = 0, growing monotonically with i, and
always along the real emotion.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from .control import EMOTIONS


class EmotionAnchor(nn.Module):
    def __init__(self, record: dict[str, Any], motion_dim: int):
        """record: an emotion-directions record (EmotionDirections.record()): "emotions", unit
        "directions" [K][motion_dim] and "magnitude" [K]."""
        super().__init__()
        directions = torch.zeros(len(EMOTIONS), motion_dim)
        scale = torch.ones(len(EMOTIONS))
        for name, row, m in zip(record["emotions"], record["directions"], record["magnitude"]):
            if len(row) != motion_dim:
                raise ValueError(f"emotion direction for {name} has {len(row)} entries, the motion {motion_dim}")
            directions[EMOTIONS.index(name)] = torch.tensor(row, dtype=torch.float32)
            scale[EMOTIONS.index(name)] = float(m)
        self.register_buffer("directions", directions)                       # [7, D], neutral row 0
        # Orthonormal basis of span{E_k} [D, r]: the correction's component in it is removed.
        q, r = torch.linalg.qr(directions.T.double())
        rank = int((r.diagonal().abs() > 1e-6).sum())
        self.register_buffer("span", q[:, :rank].float())
        self.log_scale = nn.Parameter(torch.log(scale.clamp_min(1e-6)))      # s_k = exp(log_scale_k) > 0
        self.emotions = tuple(record["emotions"])

    @property
    def scale(self) -> Tensor:
        """s_k [7] (the neutral entry is unused: its direction is 0)."""
        return self.log_scale.exp()

    def forward(self, emotion: Tensor, correction: Tensor) -> Tensor:
        """emotion π [..., 7]; correction C [..., D] → δ_r [..., D]."""
        anchored = (emotion * self.scale) @ self.directions
        free = correction - (correction @ self.span) @ self.span.T
        return anchored + free

    def extra_repr(self) -> str:
        return f"emotions={','.join(self.emotions)}, rank={self.span.shape[1]}, " \
               f"scales={[round(math.exp(float(x)), 3) for x in self.log_scale]}"
