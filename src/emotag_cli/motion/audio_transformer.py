"""Audio window Transformer (the GRMN's; not an audio encoder of preprocess): the tokens around one video
frame → one 256-d audio feature a_t.

Official code (docs/reference/motion-network.md): Linear(D→256) → sinusoidal positional encoding (dropout 0.1) →
4-layer ``nn.TransformerEncoder`` (d_model 256, 8 heads, FFN 1024, post-norm, ReLU) → mean over
the tokens. The paper mentions a 1D temporal convolution before the Transformer; the code has a
Linear projection instead, and so do we (the Transformer's attention already mixes neighbouring
tokens). D is whatever the scene's encoder emits, so one class serves mel, Whisper and wav2vec2.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal_encoding(length: int, dim: int) -> Tensor:
    """[length, dim] Transformer positional encoding: sin on even, cos on odd channels,
    wavelengths 2π … 2π·10000 (Vaswani et al. 2017)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(position * inv_freq)
    pe[:, 1::2] = torch.cos(position * inv_freq[: dim // 2])
    return pe


class AudioTransformer(nn.Module):
    """[..., T, D] audio tokens → [..., d_model] feature (mean over the T tokens)."""

    def __init__(self, audio_dim: int, tokens: int = 16, d_model: int = 256, n_layers: int = 4,
                 n_heads: int = 8, ffn_dim: int = 1024, dropout: float = 0.1):
        super().__init__()
        self.audio_dim = audio_dim
        self.proj = nn.Linear(audio_dim, d_model)
        # A buffer, not a parameter; not persistent, so checkpoints hold only learned weights.
        self.register_buffer("positional", sinusoidal_encoding(tokens, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, ffn_dim, dropout, batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)

    def forward(self, tokens: Tensor) -> Tensor:
        *lead, t, d = tokens.shape
        if d != self.audio_dim:
            raise ValueError(f"audio tokens are {d}-d, the encoder expects {self.audio_dim}-d")
        if t > self.positional.shape[0]:
            raise ValueError(f"{t} audio tokens per frame, the encoder was built for at most "
                             f"{self.positional.shape[0]}")
        x = self.proj(tokens.reshape(-1, t, d)) + self.positional[:t]
        x = self.transformer(self.dropout(x))
        return x.mean(1).reshape(*lead, -1)
