"""Intra-oral refinement of mouth-region Gaussians (docs/reference/motion-network.md).

FLAME has no teeth or tongue, so the Gaussians of the mouth region get residual offsets after the
FLAME-driven deformation. Official-code design, which we follow: a "triplane" of three 2D hash
grids on the (xy, yz, xz) projections of each deformed mouth-Gaussian centre (12 levels × 1
feature each, base resolution 16, table 2^17, finest 256·bound, bound 0.15 → 36 features),
concatenated with the window-averaged audio feature (256), then 3 bias-free Linear+ReLU layers of
width 64 and Linear(64→10) with weights N(0, 0.01):

    Δμ = out[0:3] · 0.01                     added to the centre
    Δr = normalize((1, 0, 0, 0) + out[3:7])  composed with the rotation: r* = r ⊗ Δr
    Δs = out[7:10] · 0.001                   multiplicative: s* = s · exp(Δs)

Departures from the official code, both so that the refinement starts as the identity:
- scale: exp(Δs) instead of softplus(Δs), which would shrink every mouth Gaussian to 0.69× at
  initialisation (docs/reference/motion-network.md);
- rotation: the raw output is added to the identity quaternion before normalising; normalising a
  near-zero 4-vector alone would give a random rotation at initialisation.
Like the code, the deltas are neither gated nor conditioned on AUs or identity. The paper's
additive form (r + Δr, s + Δs) is not used: adding to a quaternion or an activated scale has no
fixed meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..gaussians.quat import quat_multiply
from .config import MotionConfig
from .hashgrid import HashGrid2D

IDENTITY_QUAT = (1.0, 0.0, 0.0, 0.0)           # (w, x, y, z), the rasterizer's order


@dataclass
class MouthDeltas:
    """Per-Gaussian refinements [B, M, ·]: offset Δμ (3, head-model units, in the frame of the
    positions that were encoded), rotation Δr (4, unit, w first) and scale factor exp(Δs) (3)."""

    offset: Tensor
    rotation: Tensor
    scale: Tensor

    def apply(self, means: Tensor, quats: Tensor, scales: Tensor, frame: Tensor | None = None
              ) -> tuple[Tensor, Tensor, Tensor]:
        """Refine deformed mouth Gaussians: means [B, M, 3], quats [B, M, 4], activated scales
        [B, M, 3]. ``frame`` [B, 3, 3] rotates Δμ from the encoded (head) frame into the frame of
        ``means`` when they differ (e.g. the head's global rotation); Δr acts in each Gaussian's
        local frame, so it needs no such rotation."""
        offset = self.offset if frame is None else self.offset @ frame.transpose(-1, -2)
        return means + offset, quat_multiply(quats, self.rotation), scales * self.scale


class MouthRefinement(nn.Module):
    def __init__(self, config: MotionConfig):
        super().__init__()
        c = config
        finest = c.mouth_finest_res if c.mouth_finest_res is not None else 256 * c.mouth_bound
        self.bound = c.mouth_bound
        self.pos_step, self.scale_step = c.mouth_pos_step, c.mouth_scale_step
        self.planes = nn.ModuleList(
            HashGrid2D(c.mouth_levels, c.mouth_level_dim, c.mouth_base_res, finest, c.mouth_log2_table)
            for _ in range(3))
        layers: list[nn.Module] = []
        width = 3 * c.mouth_levels * c.mouth_level_dim + c.d_model
        for _ in range(c.mouth_layers):
            layers += [nn.Linear(width, c.mouth_hidden, bias=False), nn.ReLU()]
            width = c.mouth_hidden
        self.mlp = nn.Sequential(*layers)
        self.out = nn.Linear(width, 10)
        nn.init.normal_(self.out.weight, 0.0, 0.01)
        nn.init.zeros_(self.out.bias)
        self.register_buffer("identity_quat", torch.tensor(IDENTITY_QUAT), persistent=False)

    def forward(self, positions: Tensor, audio_feature: Tensor, weight: float | Tensor = 1.0) -> MouthDeltas:
        """positions [B, M, 3] deformed mouth-Gaussian centres in a head-fixed frame whose origin is
        near the mouth (the box ±bound is encoded; outside is clamped); audio_feature [B, d_model]
        (``MotionOutput.audio_feature``). ``weight`` scales the raw output (the curriculum blend of
        pretraining: 0 gives exactly no refinement)."""
        if positions.dim() == 2:
            positions = positions.expand(audio_feature.shape[0], -1, -1)
        u = (positions / self.bound + 1) / 2                                    # [-bound, bound] → [0, 1]
        planes = (u[..., [0, 1]], u[..., [1, 2]], u[..., [0, 2]])
        grid = torch.cat([enc(p) for enc, p in zip(self.planes, planes)], -1)  # [B, M, 36]
        audio = audio_feature[:, None, :].expand(-1, grid.shape[1], -1)
        out = self.out(self.mlp(torch.cat([grid, audio], -1))) * weight
        rotation = self.identity_quat + out[..., 3:7]
        rotation = rotation / rotation.norm(dim=-1, keepdim=True).clamp_min(1e-8)
        return MouthDeltas(out[..., 0:3] * self.pos_step, rotation, torch.exp(out[..., 7:10] * self.scale_step))
