"""Identity-Conditioned Encoder: audio window, upper-face AUs and identity → fused feature h.

    a = AudioTransformer(tokens)                       [..., 256]
    e = ReLU(W2 ReLU(W1 aus))                      [..., 64]     (6 → 64 → 64)
    h = Backbone(AdaIN_a(a, s)) + W_fuse AdaIN_e(e, s)            [..., 256]

Backbone: 4 bias-free Linear(256→256) with ReLU between them (none after the last). W_fuse:
Linear(64→256), zero-initialised, so the AU path starts switched off and the network first learns
from audio alone (official code, docs/reference/motion-network.md). The paper's figure sums the two streams (⊕);
W_fuse is that sum with a learned projection.
"""

from __future__ import annotations

from torch import Tensor, nn

from .adain import AdaIN
from .audio_transformer import AudioTransformer
from .config import MotionConfig


def _bias_free_mlp(width: int, layers: int) -> nn.Sequential:
    modules: list[nn.Module] = []
    for i in range(layers):
        if i:
            modules.append(nn.ReLU())
        modules.append(nn.Linear(width, width, bias=False))
    return nn.Sequential(*modules)


class IdentityConditionedEncoder(nn.Module):
    """(audio [..., T, D], aus [..., au_dim], identity [..., identity_dim]) → (h, a), each [..., d_model].

    The leading axes of the three inputs must broadcast against each other after the audio's
    token axis is pooled (e.g. audio [B, W, T, D], aus [B, W, 6], identity [B, 1, Did]).
    """

    def __init__(self, config: MotionConfig):
        super().__init__()
        c = config
        self.audio = AudioTransformer(c.audio_dim, c.audio_tokens, c.d_model, c.n_layers, c.n_heads, c.ffn_dim,
                                  c.dropout)
        self.au = nn.Sequential(nn.Linear(c.au_dim, c.au_hidden), nn.ReLU(),
                                nn.Linear(c.au_hidden, c.au_hidden), nn.ReLU())
        self.adain_audio = AdaIN(c.d_model, c.identity_dim, c.adain_hidden)
        self.adain_au = AdaIN(c.au_hidden, c.identity_dim, c.adain_hidden)
        self.backbone = _bias_free_mlp(c.d_model, c.backbone_layers)
        self.fuse = nn.Linear(c.au_hidden, c.d_model)
        nn.init.zeros_(self.fuse.weight)
        nn.init.zeros_(self.fuse.bias)

    def forward(self, audio: Tensor, aus: Tensor, identity: Tensor) -> tuple[Tensor, Tensor]:
        """Returns the fused feature h and the raw audio feature a (before AdaIN)."""
        a = self.audio(audio)
        e = self.au(aus)
        h = self.backbone(self.adain_audio(a, identity)) + self.fuse(self.adain_au(e, identity))
        return h, a
