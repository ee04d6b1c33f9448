"""Priors and temporal smoothness of the tracker, as negative log-densities (dimensionless).

Each term is a Gaussian (or a one-sided soft range) on a parameter block, written with the
standard deviation it assumes, so the weights read as physical quantities: radians, radians per
frame, coefficient units. Terms are summed over components and averaged over frames, matching the
data term (a sum over landmarks, averaged over frames), so their balance does not depend on the
clip's length.
"""

from __future__ import annotations

import torch


def gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """½ Σ (x/σ)², summed over the last axis and averaged over the others (0 when σ is inf)."""
    if sigma == float("inf"):
        return x.new_zeros(())
    per_row = 0.5 * (x / sigma).square().sum(-1)
    return per_row.mean() if per_row.ndim else per_row


def soft_range(x: torch.Tensor, low: float, high: float, sigma: float) -> torch.Tensor:
    """½ ((distance outside [low, high]) / σ)², averaged: free inside the range, quadratic outside."""
    out = torch.relu(low - x) + torch.relu(x - high)
    return 0.5 * (out / sigma).square().mean()


def jaw_prior(jaw: torch.Tensor, open_range: tuple[float, float], sigma_open: float, sigma_side: float) -> torch.Tensor:
    """Jaw axis-angle [N, 3] (x = opening, positive opens; y, z = sideways and twist).

    The opening is free inside ``open_range`` (radians) and held there by a soft wall; sideways and
    twisting rotations are small (Gaussian, ``sigma_side``). ``sigma_open`` is the wall's softness.
    """
    return soft_range(jaw[:, 0], *open_range, sigma_open) + gaussian(jaw[:, 1:], sigma_side)


def eyes_prior(eyes: torch.Tensor, sigma: float, sigma_vergence: float) -> torch.Tensor:
    """Eyes [N, 6] (left then right axis-angle): gaze near straight ahead, both eyes turning together."""
    left, right = eyes[:, :3], eyes[:, 3:]
    return gaussian(eyes, sigma) + gaussian(left - right, sigma_vergence)


def smoothness(x: torch.Tensor, sigma: float, gaps: torch.Tensor | None = None) -> torch.Tensor:
    """Temporal smoothness of a per-frame block x [N, K]: ½ Σ (Δx/σ)² per frame step.

    gaps [N-1]: frame distance between consecutive rows (rows are valid frames only); a step over
    g frames is allowed g times the change (random-walk scaling, σ√g).
    """
    if x.shape[0] < 2 or sigma == float("inf"):
        return x.new_zeros(())
    d = x[1:] - x[:-1]
    if gaps is not None:
        d = d / gaps.sqrt()[:, None]
    return 0.5 * (d / sigma).square().sum(-1).sum() / x.shape[0]
