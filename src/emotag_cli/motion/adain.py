"""AdaIN identity modulation of a per-frame feature vector (docs/reference/motion-network.md).

    F̃ = (1 + γ(s)) · (F − mean_c F) / (std_c F + 1e-5) + β(s),     (γ, β) = MLP(s)

The statistics run over the channels of each vector: the features are single vectors per frame,
so the paper's "InstanceNorm" is LayerNorm-like here (the official code does the same). The MLP's
last layer starts at zero, so at initialisation γ = β = 0 and the block is a pure normalisation
whatever the identity: a new identity cannot disturb a pretrained network until adaptation moves
these weights. These MLPs are the only parameters tuned in adaptation (``params.tune``).
"""

from __future__ import annotations

from torch import Tensor, nn

EPS = 1e-5


def channel_normalize(x: Tensor) -> Tensor:
    """(x − mean) / (std + 1e-5) over the last axis (population std)."""
    mean = x.mean(-1, keepdim=True)
    std = x.std(-1, keepdim=True, correction=0)
    return (x - mean) / (std + EPS)


class AdaIN(nn.Module):
    """Modulate [..., C] features by an identity embedding [..., identity_dim] (broadcast)."""

    def __init__(self, channels: int, identity_dim: int, hidden: int = 256):
        super().__init__()
        self.channels = channels
        self.mlp = nn.Sequential(nn.Linear(identity_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2 * channels))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, features: Tensor, identity: Tensor) -> Tensor:
        gamma, beta = self.mlp(identity).chunk(2, dim=-1)
        return (1 + gamma) * channel_normalize(features) + beta
