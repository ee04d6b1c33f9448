"""Edge strain: how much an expression offset stretches or shrinks each edge of the head mesh.

Gaussians are bound to triangles and scale with them, so a triangle stretched far past what the
avatar saw in its training frames renders as a streak or a smear. The strain of edge (i, j) under
an expression offset e ∈ R^E on the rest mesh of a shape β is

    v(e)     = v_template + shapedirs·β + exprdirs·e            [V, 3] metres
    strain_ij = |v_i(e) − v_j(e)| / |v_i(0) − v_j(0)| − 1          0: unchanged, 0.5: half again as long

(the jaw and the head pose do not enter: an emotion direction has no jaw part). Used to keep an
emotion direction refined on renders from deforming any part of the face further than the
direction it started from (synthesis/emotion_refine.py).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .builder.harmonic import edges_of
from .model import HeadModel


class EdgeStrain:
    """``strain(e)`` [E_edges] of expression offsets ``e`` [n] (n ≤ the model's expression
    components; the rest are zero) on the rest mesh of ``shape`` [S'] (S' ≤ the model's)."""

    def __init__(self, model: HeadModel, shape: Tensor):
        edges = torch.from_numpy(edges_of(model.faces.cpu().numpy()))
        self.i, self.j = edges[:, 0], edges[:, 1]
        n_shape = int(shape.shape[-1])
        rest = model.v_template + model.shapedirs[..., :n_shape] @ shape.reshape(-1).to(model.v_template)
        self.rest_delta = rest[self.i] - rest[self.j]                     # [E_edges, 3]
        self.rest_length = self.rest_delta.norm(dim=-1).clamp_min(1e-9)   # [E_edges]
        self.edge_basis = model.exprdirs[self.i] - model.exprdirs[self.j]   # [E_edges, 3, n_expr]

    @property
    def n_edges(self) -> int:
        return int(self.i.shape[0])

    def __call__(self, e: Tensor) -> Tensor:
        n = int(e.shape[-1])
        moved = self.rest_delta + self.edge_basis[..., :n] @ e.to(self.rest_delta)
        return moved.norm(dim=-1) / self.rest_length - 1.0


def excess_strain(strain: Tensor, bound: Tensor) -> Tensor:
    """Per-edge strain beyond ``bound`` [E_edges] in either direction (≥ 0), same shape."""
    return torch.relu(strain.abs() - bound)


def strain_summary(strain: Tensor) -> dict[str, float]:
    """max and 99th percentile of |strain| (rounded), for provenance records."""
    a = strain.detach().abs().double().numpy()
    return {"max": round(float(a.max()), 3), "p99": round(float(np.quantile(a, 0.99)), 3)}


__all__ = ["EdgeStrain", "excess_strain", "strain_summary"]
