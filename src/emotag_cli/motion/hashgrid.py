"""Multiresolution 2D hash encoding (Müller et al. 2022, "Instant Neural Graphics Primitives"),
in plain PyTorch so that it runs and differentiates on any device.

Level l has N_l = floor(N_min · b^l) cells per side, with b = (N_max / N_min)^(1 / (L − 1)), and
(N_l + 1)² vertices, each holding F learned features. A level whose vertices fit in the table
(T = 2^log2_table entries) is stored densely (index i + j·(N_l + 1)); a finer one is hashed:

    index = (i · π1  XOR  j · π2) mod T,        π1 = 1,  π2 = 2 654 435 761

the primes of Instant-NGP (π3 = 805 459 861 would be the third axis; this grid is 2D). T is a power
of two, so mod T is a mask. A point's feature is the bilinear interpolation of its cell's four
vertices, differentiable in the features and (piecewise) in the position. Features start uniform
in ±1e-4, as in Instant-NGP, so the encoding is near zero at initialisation.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

PRIME_Y = 2654435761          # π2 of Instant-NGP; π1 = 1


def level_resolutions(levels: int, base: int, finest: float) -> list[int]:
    """Cells per side of each level: floor(base · b^l), b = (finest / base)^(1 / (levels − 1))."""
    growth = math.exp((math.log(finest) - math.log(base)) / (levels - 1)) if levels > 1 else 1.0
    return [int(math.floor(base * growth**level)) for level in range(levels)]


class HashGrid2D(nn.Module):
    """[..., 2] positions in [0, 1]² → [..., levels · level_dim] features (outside: clamped)."""

    def __init__(self, levels: int = 12, level_dim: int = 1, base_res: int = 16, finest_res: float = 38.4,
                 log2_table: int = 17):
        super().__init__()
        self.levels, self.level_dim = levels, level_dim
        table = 2**log2_table
        res = level_resolutions(levels, base_res, max(finest_res, base_res))
        sizes = [min((r + 1) ** 2, table) for r in res]
        offsets = [0]
        for s in sizes[:-1]:
            offsets.append(offsets[-1] + s)
        self.register_buffer("res", torch.tensor(res), persistent=False)
        self.register_buffer("offsets", torch.tensor(offsets), persistent=False)
        self.register_buffer("hashed", torch.tensor([(r + 1) ** 2 > table for r in res]), persistent=False)
        self.table_size = table
        self.features = nn.Parameter(torch.empty(sum(sizes), level_dim).uniform_(-1e-4, 1e-4))

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        res = self.res.to(x.dtype)
        pos = x.clamp(0, 1).reshape(-1, 1, 2) * res[:, None]                      # [P, L, 2]
        cell = torch.minimum(pos.floor(), (res - 1)[:, None]).long()              # x = 1 → last cell
        frac = pos - cell
        corners = torch.tensor([[0, 0], [1, 0], [0, 1], [1, 1]], device=x.device)
        ij = cell[:, :, None, :] + corners                                        # [P, L, 4, 2]
        i, j = ij[..., 0], ij[..., 1]
        dense = i + j * (self.res[:, None] + 1)
        hashed = torch.bitwise_xor(i, j * PRIME_Y) & (self.table_size - 1)
        index = torch.where(self.hashed[:, None], hashed, dense) + self.offsets[:, None]
        fx, fy = frac[..., 0:1], frac[..., 1:2]                                   # [P, L, 1]
        weights = torch.cat([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], -1)
        values = self.features[index]                                             # [P, L, 4, F]
        out = (weights[..., None] * values).sum(-2)                               # [P, L, F]
        return out.reshape(*lead, self.levels * self.level_dim)
