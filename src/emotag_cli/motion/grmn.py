"""The Gated Residual Motion Network: audio window, AUs, identity → FLAME expression and jaw.

    audio [B, W, T, D] ─ AudioTransformer ─ a ─ AdaIN(s) ─ Backbone ─┐
    aus   [B, W, 6]    ─ AU MLP ─────── e ─ AdaIN(s) ─ W_fuse ───⊕─ h ─ Expert Motion Decoder
    identity s [B, Did]                                               δ = δ_b + g·δ_r per frame
                                                                      → averaged over the W frames

One prediction uses the W = 8 frames [t − 4, t + 4) around frame t (``windows.frame_windows``);
every per-frame output (δ, g, z_e, h, a) is averaged over them, the official code's temporal
smoothing. The mouth network (``self.mouth``) is part of the module, so one state dict, one EMA
and one ``tune`` cover everything; it runs inside ``forward`` when the mouth-Gaussian positions are
given (so that a DistributedDataParallel wrapper sees all parameters used in its forward).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import MotionConfig
from .control import teacher_forcing
from .decoder import DecoderOutput, ExpertMotionDecoder
from .encoder import IdentityConditionedEncoder
from .mouth import MouthDeltas, MouthRefinement
from .windows import frame_windows


@dataclass
class MotionOutput:
    """Window-averaged outputs of one prediction per sample.

    expr [B, n_expr], jaw [B, n_jaw]: the motion to drive the head model with (slices of delta).
    delta [B, n_expr + n_jaw]: mean over the window of δ_b + g·δ_r.
    base, residual [B, n_expr + n_jaw]: mean δ_b and mean δ_r (for inspection; delta is not in
        general base + gate·residual of these means, since g varies over the window).
    gate [B, 1]: the predicted g (the L_Score target); gate_used: the g that was applied.
    emotion_logits [B, n_emotions]: z_e (the L_KL input); emotion_used: the distribution the
        residual decoder read.
    feature [B, d_model]: the fused feature h; audio_feature [B, d_model]: the audio Transformer's
        output a before AdaIN (the mouth network's input).
    mouth: the intra-oral refinements, when mouth positions were given (else None).
    """

    expr: Tensor
    jaw: Tensor
    delta: Tensor
    base: Tensor
    residual: Tensor
    gate: Tensor
    gate_used: Tensor
    emotion_logits: Tensor
    emotion_used: Tensor
    feature: Tensor
    audio_feature: Tensor
    mouth: MouthDeltas | None = None


class GRMN(nn.Module):
    def __init__(self, config: MotionConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.encoder = IdentityConditionedEncoder(config)
        self.decoder = ExpertMotionDecoder(config)
        self.mouth = MouthRefinement(config) if config.mouth else None

    def forward(self, audio: Tensor, aus: Tensor, identity: Tensor, emotion: Tensor | None = None,
                intensity: Tensor | float | None = None, valid: Tensor | None = None,
                mouth_positions: Tensor | None = None, mouth_weight: float | Tensor = 1.0) -> MotionOutput:
        """audio [B, W, T, D]; aus [B, W, au_dim] or [B, au_dim] (the current frame's, used for
        every window frame, as the official code does); identity [B, identity_dim].

        emotion: [B, 7] or [7] distribution to drive the residual with, instead of softmax(z_e);
            intensity: [B, 1], [B], [1] or a float in [0, 1], used instead of the predicted gate.
            None — or NaN in a sample's row — means inferred from audio (control.py).
        valid: [B, W] bool, False for padded window frames, which are then left out of the
            average (None: all frames count, as in the official code).
        mouth_positions: [B, M, 3] or [M, 3] deformed mouth-Gaussian centres in the head frame
            (MouthRefinement.forward); mouth_weight scales the refinement (curriculum blend).
        """
        b, w = audio.shape[:2]
        if aus.dim() == 2:
            aus = aus[:, None, :].expand(-1, w, -1)
        h, a = self.encoder(audio, aus, identity[:, None, :])
        if emotion is not None:
            emotion = emotion.reshape(-1, 1, emotion.shape[-1])
        if intensity is not None:
            intensity = torch.as_tensor(intensity, dtype=h.dtype, device=h.device).reshape(-1, 1, 1)
        out = self.decoder(h, emotion, intensity)

        if valid is None:
            weights = torch.full((b, w, 1), 1.0 / w, dtype=h.dtype, device=h.device)
        else:
            weights = valid.to(h.dtype)[..., None]
            weights = weights / weights.sum(1, keepdim=True).clamp_min(1.0)

        def mean(x: Tensor) -> Tensor:
            return (x * weights).sum(1)

        result = self._averaged(out, h, a, mean)
        if mouth_positions is not None:
            if self.mouth is None:
                raise ValueError("this motion network was built without the mouth refinement (config.mouth)")
            result.mouth = self.mouth(mouth_positions, result.audio_feature, mouth_weight)
        return result

    def sequence(self, audio: Tensor, aus: Tensor, identity: Tensor, emotion: Tensor | None = None,
                 intensity: Tensor | float | None = None, chunk: int = 512) -> MotionOutput:
        """Predictions for every frame of a clip, each frame encoded once (rendering).

        audio [N, T, D]; aus [N, au_dim] (each frame's own AUs); identity [identity_dim];
        emotion [7] or [N, 7] and intensity (float, [N] or [N, 1]) per frame, NaN/None = auto.
        Equal to ``forward`` on ``frame_windows`` of the clip with ``valid`` given and each window
        frame's own AUs, but about ``window`` times cheaper: per-frame outputs are computed once
        and averaged over the sliding window. Padding past the clip's ends is left out of the
        average. Returns a MotionOutput with N rows (no mouth deltas: call ``self.mouth``).
        """
        n, w = audio.shape[0], self.config.window
        hs, as_ = [], []
        for start in range(0, n, chunk):
            h, a = self.encoder(audio[start:start + chunk], aus[start:start + chunk], identity[None])
            hs.append(h)
            as_.append(a)
        h, a = torch.cat(hs), torch.cat(as_)
        if intensity is not None:
            intensity = torch.as_tensor(intensity, dtype=h.dtype, device=h.device).reshape(-1, 1)
        out = self.decoder(h, None if emotion is None else emotion.reshape(-1, emotion.shape[-1]), intensity)

        def mean(x: Tensor) -> Tensor:
            windows, valid = frame_windows(x, w)
            weights = valid.to(x.dtype)[..., None]
            return (windows * weights).sum(1) / weights.sum(1)

        return self._averaged(out, h, a, mean)

    def stretches(self, audio: Tensor, aus: Tensor, identity: Tensor, emotion: Tensor | None = None,
                  intensity: Tensor | None = None) -> MotionOutput:
        """``sequence`` over S equal-length stretches of consecutive frames at once (each its own
        clip, of its own identity): the batched form motion pretraining trains on.

        audio [S, L, T, D]; aus [S, L, au_dim]; identity [S, identity_dim]; emotion [S, L, 7] and
        intensity [S, L, 1] per frame (NaN rows = auto) or None. Returns a MotionOutput with S·L
        rows (stretch-major), row s·L + t equal to ``sequence`` of stretch s at frame t.
        """
        s, n, w = audio.shape[0], audio.shape[1], self.config.window
        h, a = self.encoder(audio, aus, identity[:, None, :])                          # [S, L, C]
        out = self.decoder(h, emotion, intensity)
        valid = torch.ones(1, n, 1, dtype=h.dtype, device=h.device)
        pad = (w // 2, w - w // 2 - 1)
        count = F.pad(valid, (0, 0, *pad)).unfold(1, w, 1).sum(-1)                      # [1, L, 1]

        def mean(x: Tensor) -> Tensor:
            x = x.reshape(s, n, -1)
            windowed = F.pad(x, (0, 0, *pad)).unfold(1, w, 1).sum(-1) / count
            return windowed.reshape(s * n, -1)

        return self._averaged(out, h, a, mean)

    def _averaged(self, out: DecoderOutput, h: Tensor, a: Tensor, mean: Callable[[Tensor], Tensor]) -> MotionOutput:
        """The MotionOutput of per-frame decoder outputs, fused features h and audio features a,
        each averaged over its window by ``mean``."""
        delta = mean(out.delta)
        n_expr = self.config.n_expr
        return MotionOutput(
            expr=delta[:, :n_expr], jaw=delta[:, n_expr:], delta=delta, base=mean(out.base),
            residual=mean(out.residual), gate=mean(out.gate), gate_used=mean(out.gate_used),
            emotion_logits=mean(out.emotion_logits), emotion_used=mean(out.emotion_used),
            feature=mean(h), audio_feature=mean(a))

    def teacher_inputs(self, p_emo: Tensor, generator: torch.Generator | None = None
                       ) -> tuple[Tensor | None, Tensor]:
        """Training-time (emotion, intensity) for ``forward``: the teacher's p_emo [B, 7] and score,
        each substituted per sample with probability ``config.p_teacher`` (control.teacher_forcing).
        The "code" variant has no emotion input, so only the gate is forced there."""
        emotion, intensity = teacher_forcing(p_emo, self.config.p_teacher, generator)
        return (emotion if self.config.residual == "paper" else None), intensity
