"""Expert Motion Decoder: fused feature h → base motion, emotion residual and gate (METHOD.md §2.3).

    δ = δ_b + g · δ_r,          δ = [Ψ (n_expr) ‖ Θ_jaw (3)]

- Base: Linear(256→53) on h, weights N(0, 0.01): neutral, identity-agnostic articulation. (The code
  has separate 50- and 3-wide heads; one 53-wide Linear is the same function.)
- Gate: Linear(256→128) + ReLU + Linear(128→1), weights N(0, 0.01), then a sigmoid: g ≈ 0.5 at
  initialisation; g → 0 keeps a frame neutral, g → 1 releases the full residual.
- Residual, two variants (``MotionConfig.residual``):
  * "paper" (default, METHOD.md §8.1): the paper's "EMO encoder-decoder". An encoder MLP
    (2 bias-free 256→256 layers) gives r; z_e = Linear(r→7) is the emotion latent the KL loss
    supervises; the decoder reads [r ‖ π] with π = softmax(z_e), through Linear(263→256) + ReLU +
    Linear(256→53) (weights N(0, 0.005)). Because δ_r depends on π, a given distribution can stand
    in for softmax(z_e) — the emotion control of control.py.
    With ``MotionConfig.emotion_directions`` that decoder's output is the learned correction of a
    residual anchored on real emotion directions, δ_r = Σ_k π_k·s_k·E_k + C (emotion_residual.py).
  * "code": the official release. z_e = Linear(h→7) is read off the shared feature, and δ_r =
    Linear(MLP(h)) ignores it, so the KL shapes h but nothing conditions the residual on emotion.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import EmotagError
from .config import MotionConfig
from .control import substitute
from .emotion_residual import EmotionAnchor


def _init_normal(layer: nn.Linear, std: float) -> nn.Linear:
    nn.init.normal_(layer.weight, 0.0, std)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


@dataclass
class DecoderOutput:
    """Per-frame decoder outputs; every tensor has the leading axes of h.

    base, residual: δ_b and δ_r [..., n_expr + n_jaw]; delta = base + gate_used · residual.
    gate: the predicted g [..., 1]; gate_used: the g applied (the given intensity where one was).
    emotion_logits: z_e [..., n_emotions]; emotion_used: the distribution the residual decoder
        read (softmax(z_e) or the given one; softmax(z_e) in the "code" variant, which reads none).
    """

    base: Tensor
    residual: Tensor
    gate: Tensor
    gate_used: Tensor
    emotion_logits: Tensor
    emotion_used: Tensor

    @property
    def delta(self) -> Tensor:
        return self.base + self.gate_used * self.residual


class ExpertMotionDecoder(nn.Module):
    def __init__(self, config: MotionConfig):
        super().__init__()
        c = config
        self.variant = c.residual
        d, m = c.d_model, c.motion_dim
        self.base = _init_normal(nn.Linear(d, m), 0.01)
        self.gate = nn.Sequential(_init_normal(nn.Linear(d, c.gate_hidden), 0.01), nn.ReLU(),
                                  _init_normal(nn.Linear(c.gate_hidden, 1), 0.01))
        self.residual_encoder = nn.Sequential(nn.Linear(d, d, bias=False), nn.ReLU(), nn.Linear(d, d, bias=False))
        self.emotion_head = nn.Linear(d, c.n_emotions)
        if self.variant == "paper":
            self.residual_decoder = nn.Sequential(nn.Linear(d + c.n_emotions, d), nn.ReLU(),
                                                  _init_normal(nn.Linear(d, m), 0.005))
        else:
            self.residual_decoder = _init_normal(nn.Linear(d, m), 0.005)
        self.anchor = EmotionAnchor(c.emotion_directions, m) if c.emotion_directions is not None else None

    def forward(self, h: Tensor, emotion: Tensor | None = None, intensity: Tensor | None = None) -> DecoderOutput:
        """h [..., d_model]; emotion [..., n_emotions] and intensity [..., 1] broadcast against h's
        leading axes, NaN entries meaning "infer it" (see control.substitute); None infers all."""
        gate = torch.sigmoid(self.gate(h))
        r = self.residual_encoder(h)
        if self.variant == "paper":
            logits = self.emotion_head(r)
            used = substitute(emotion, torch.softmax(logits, -1))
            residual = self.residual_decoder(torch.cat([r, used], -1))
            if self.anchor is not None:
                residual = self.anchor(used, residual)
        else:
            if emotion is not None and not torch.isnan(emotion).all():
                raise EmotagError("this motion prior was trained with the official code's residual branch "
                                  "(residual='code'), which cannot be driven by an emotion; use a prior "
                                  "trained with residual='paper', or leave the emotion on auto")
            logits = self.emotion_head(h)
            used = torch.softmax(logits, -1)
            residual = self.residual_decoder(r)
        return DecoderOutput(self.base(h), residual, gate, substitute(intensity, gate), logits, used)
