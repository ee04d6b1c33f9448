"""`emotag render --emotion-mouth speech`: an emotion changes the face, not how far the mouth opens.

The motion network's emotion residual δ_r moves the face along the emotion directions (which hold
no inner-lip opening) plus a learned, audio-dependent correction. Measured on the four avatars of
docs/reference/emotion-and-identity.md, the emotional motion also opens the mouth (the mesh's lip
gap 4–12 mm wider under every emotion but sad, the correction's jaw about 3° open) and adds mouth
motion of its own: under happy, German's mesh opening correlates with its neutral one at 0.31.

With ``--emotion-mouth speech`` the mouth's opening is taken from the same network asked for
neutral at the same intensity, and the emotion keeps everything else:

    δ = δ_n + P(δ_e − δ_n)        δ_e: motion for the request, δ_n: for neutral, both [N, E + 3]

where P zeroes the jaw part and removes, from the expression part, the span of the gap vectors of
the three inner-lip landmark pairs the mouth gauge and the eval measure (MediaPipe 82–87, 13–14,
312–317; 9 linear constraints on the 50 expression coefficients). The expression basis is linear,
so in the head's rest pose the three gaps of δ are exactly those of δ_n; posed, they differ only
by how differently the jaw turns the upper and lower lip points (tests/test_speech_mouth.py).

It is not the default: the emotion teacher reads much of an emotion from the open mouth (an open
smile, a dropped jaw). Measured (docs/reference/emotion-and-identity.md#measured): the AV-sync
proxy of the emotion renders stays within 0.05 of the neutral render's on 10 of 24 instead of 7,
but top-1 ≥ 80 % falls from 4 to 2 of 16 cells.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..head.landmark_scheme import mediapipe_indices
from ..head.lbs import landmark_expression_basis
from ..head.model import HeadModel
from ..lip_signals import INNER_LIP_PAIRS


def lip_gap_basis(model: HeadModel, n_expr: int) -> Tensor:
    """``[n_expr, r]`` orthonormal basis (r ≤ 9) of the expression changes that move an inner-lip
    landmark pair's gap vector (upper minus lower point, 3D, rest pose)."""
    row = {int(m): k for k, m in enumerate(mediapipe_indices(model))}
    pairs = [(row[a], row[b]) for a, b in INNER_LIP_PAIRS if a in row and b in row]
    if not pairs:
        raise ValueError(f"{model.id}: its landmark embedding has none of the inner-lip pairs")
    upper = landmark_expression_basis(model, [a for a, _ in pairs], n_expr)          # [P, 3, E]
    lower = landmark_expression_basis(model, [b for _, b in pairs], n_expr)
    gaps = (upper - lower).reshape(-1, n_expr)                                  # [3·pairs, E]
    q, r = torch.linalg.qr(gaps.T)
    keep = r.diagonal().abs() > 1e-9 * r.diagonal().abs().max()
    return q[:, keep].float()


def without_lip_gaps(motion: Tensor, basis: Tensor, n_expr: int) -> Tensor:
    """P·``motion`` [..., D]: the jaw part zeroed, the span of ``basis`` [n_expr, r] removed from
    the expression part (a change that moves no inner-lip gap)."""
    expr = motion[..., :n_expr]
    expr = expr - (expr @ basis) @ basis.T
    return torch.cat([expr, torch.zeros_like(motion[..., n_expr:])], dim=-1)


def with_speech_mouth(emotional: Tensor, neutral: Tensor, basis: Tensor, n_expr: int) -> Tensor:
    """``[N, D]`` motion: ``emotional`` [N, D] with the jaw and the inner-lip gaps of ``neutral``
    [N, D] (D = n_expr + jaw dims); ``basis`` from ``lip_gap_basis``."""
    return neutral + without_lip_gaps(emotional - neutral, basis, n_expr)


__all__ = ["lip_gap_basis", "with_speech_mouth", "without_lip_gaps"]
