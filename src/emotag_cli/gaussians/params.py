"""The learnable parameters of a set of mesh-bound Gaussians.

Stored as in 3DGS / gsplat, unconstrained (N Gaussians, K = (sh_degree + 1)² SH coefficients):

    means      [N, 3]     local position in the parent triangle's frame (triangle-scale units)
    quats      [N, 4]     local rotation (w, x, y, z), normalised when used
    scales     [N, 3]     log of the local standard deviations (triangle-scale units)
    opacities  [N]        logit of the opacity
    sh0        [N, 1, 3]  SH degree-0 coefficient (colour)
    shN        [N, K-1, 3] higher SH coefficients

plus ``binding`` [N] int64, each Gaussian's parent triangle (not learnable; densification carries
it to the children of a Gaussian).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from .binding import TriangleFrames, deform

PARAM_NAMES = ("means", "quats", "scales", "opacities", "sh0", "shN")


@dataclass
class GaussianParams:
    params: nn.ParameterDict
    binding: Tensor
    sh_degree: int

    @property
    def n(self) -> int:
        return int(self.binding.shape[0])

    def sh(self) -> Tensor:
        """[N, K, 3] SH coefficients."""
        return torch.cat([self.params["sh0"], self.params["shN"]], dim=1)

    def opacities(self) -> Tensor:
        """[N] in (0, 1)."""
        return torch.sigmoid(self.params["opacities"])

    def local_scales(self) -> Tensor:
        """[N, 3] activated local standard deviations."""
        return torch.exp(self.params["scales"])

    def world(self, frames: TriangleFrames) -> tuple[Tensor, Tensor, Tensor]:
        """means [B, N, 3], quats [B, N, 4], scales [B, N, 3] on the meshes of ``frames``."""
        quats = self.params["quats"] / self.params["quats"].norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return deform(frames, self.binding, self.params["means"], quats, self.local_scales())

    def state_dict(self) -> dict[str, Tensor]:
        out = {k: v.detach().cpu() for k, v in self.params.items()}
        out["binding"] = self.binding.cpu()
        out["sh_degree"] = torch.tensor(self.sh_degree)
        return out

    @classmethod
    def from_state_dict(cls, state: dict[str, Tensor]) -> GaussianParams:
        params = nn.ParameterDict({k: nn.Parameter(state[k].float()) for k in PARAM_NAMES})
        return cls(params, state["binding"].long(), int(state["sh_degree"]))

    def save(self, path: Path) -> None:
        torch.save(self.state_dict(), path)

    @classmethod
    def load(cls, path: Path) -> GaussianParams:
        return cls.from_state_dict(torch.load(path, map_location="cpu", weights_only=True))
