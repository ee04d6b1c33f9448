"""Mouth opening of the head model: the mean gap of three facing inner-lip landmark pairs.

The same three MediaPipe pairs (82–87, 13–14, 312–317) as the eval's inner-lip gap
(lip_signals.py), here in 3D on the model's own landmarks of the *head-frame* mesh (no global
rotation, neck or translation), in metres — so the measure ignores where the head is and how the
camera sees it, and is differentiable in the expression and the jaw. Motion pretraining compares
the predicted opening with the tracked one (``opening_loss``); the silence checks compare it with
the neutral face's.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..head.landmark_scheme import mediapipe_indices
from ..head.lbs import HeadPose, flame_forward, landmarks_from_vertices
from ..head.model import HeadModel
from ..lip_signals import INNER_LIP_PAIRS


class MouthGauge:
    """Measures the mouth opening of a head model (one shape per call)."""

    def __init__(self, model: HeadModel):
        mp = mediapipe_indices(model)
        row = {int(m): k for k, m in enumerate(mp)}
        pairs = [(row[a], row[b]) for a, b in INNER_LIP_PAIRS if a in row and b in row]
        if not pairs:
            raise ValueError(f"{model.id}: its landmark embedding has none of the inner-lip pairs")
        self.model = model
        self.upper = torch.as_tensor(np.array([p[0] for p in pairs]))
        self.lower = torch.as_tensor(np.array([p[1] for p in pairs]))

    def __call__(self, shape: Tensor, expr: Tensor, jaw: Tensor) -> Tensor:
        """[B] opening in metres: shape [S] or [B, S], expr [B, E], jaw [B, 3] (axis-angle)."""
        b = expr.shape[0]
        shape = shape.expand(b, -1) if shape.dim() == 1 else shape
        zero = torch.zeros(b, 3, dtype=expr.dtype, device=expr.device)
        pose = HeadPose(shape, expr, zero, zero, jaw, torch.zeros(b, 6, dtype=expr.dtype, device=expr.device), zero)
        lmk = landmarks_from_vertices(self.model, flame_forward(self.model, pose))
        return (lmk[:, self.upper] - lmk[:, self.lower]).norm(dim=-1).mean(-1)

    def neutral(self, shape: Tensor) -> float:
        """The opening of the neutral face (zero expression and jaw) of ``shape`` [S], metres."""
        with torch.no_grad():
            n = self.model.n_expr
            return float(self(shape, torch.zeros(1, n, dtype=shape.dtype), torch.zeros(1, 3, dtype=shape.dtype))[0])


def opening_loss(pred: Tensor, target: Tensor) -> Tensor:
    """MSE of two openings [B] in centimetres (so that a typical 1 cm speech opening weighs ~1)."""
    return ((pred - target) * 100).square().mean()
