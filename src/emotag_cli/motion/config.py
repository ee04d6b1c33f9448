"""``MotionConfig``: every size and switch of the Gated Residual Motion Network (GRMN).

The defaults are the official code's sizes (docs/reference/motion-network.md) with our choices where
the paper and the code disagree or are silent (listed there).
The config is saved inside a motion prior and rebuilt from it, so it holds plain values only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..config import from_dict
from ..errors import EmotagError

RESIDUAL_VARIANTS = ("paper", "code")


def audio_mismatch(expected: tuple[str | None, int], got: tuple[str | None, int]) -> str | None:
    """The audio-compatibility check, as a phrase, or None when audio features ``got`` (the encoder
    id a scene records, their width) fit ``expected`` (an encoder id of None accepts any of that width)."""
    (want, want_dim), (have, have_dim) = expected, got
    if have_dim == want_dim and (want is None or have == want):
        return None
    if want is None:
        return f"audio features from {have} ({have_dim}-d) instead of an encoder's {want_dim}-d ones"
    from ..preprocess.audio_features import encoder_option

    return (f"audio features from {have} ({have_dim}-d) instead of {want} ({want_dim}-d); make them with "
            f"`emotag features SCENE --audio-encoder {encoder_option(want)}`")


@dataclass
class MotionConfig:
    """Settings of the GRMN (docs/reference/motion-network.md).

    Inputs
        audio_dim: width D of the scene's audio tokens (80 mel, 384 whisper-tiny, 768 wav2vec2 /
            hubert-base); audio_tokens: tokens per video frame (16, ±160 ms at 50 Hz).
        audio_encoder: the scene-manifest id of the encoder the network was trained on (e.g.
            "mel", "whisper-tiny", "wav2vec2:wav2vec2-base-960h"); ``check_audio`` refuses others.
        au_dim: upper-face AUs per frame (AU01, 04, 05, 06, 07, 45).
        identity_dim: identity embedding width (128 dlib, 512 AdaFace).
        window: video frames per prediction; per-frame outputs are averaged over it.
    Encoder
        d_model / n_layers / n_heads / ffn_dim / dropout: the audio Transformer.
        au_hidden: AU MLP width; adain_hidden: hidden width of the AdaIN MLPs.
        backbone_layers: bias-free 256→256 layers after the audio AdaIN.
    Decoder
        n_expr / n_jaw: expression coefficients and jaw axis-angle (δ has n_expr + n_jaw dims).
        n_emotions: classes of z_e (angry, disgust, fear, happy, sad, surprise, neutral).
        residual: "paper" — residual encoder → z_e → decoder conditioned on softmax(z_e) (our choice:
            the paper's design, needed for emotion control) — or "code" — z_e from the fused feature and an
            unconditioned residual MLP, as the official release does.
        gate_hidden: hidden width of the gate MLP.
        p_teacher: probability, per training sample, of feeding the teacher's emotion distribution
            and score to the decoder instead of the predicted ones (teacher forcing, see control.py).
        emotion_directions: the record of the emotion directions the residual is anchored on
            (head/emotion_directions.py ``EmotionDirections.record()``: head model id and SHA-256,
            version, emotions, unit directions, natural magnitudes), or None for the un-anchored
            residual (motion/emotion_residual.py; "paper" variant only).
    Mouth (intra-oral refinement, docs/reference/motion-network.md)
        mouth: build the mouth network at all.
        mouth_levels / mouth_level_dim / mouth_base_res / mouth_log2_table: each 2D hash grid.
        mouth_finest_res: resolution of the finest level; None = 256·bound, the code's value.
        mouth_bound: half extent of the encoded box, in head-model units; positions are clamped to it.
        mouth_hidden / mouth_layers: the MLP after the triplane and audio features.
        mouth_pos_step / mouth_scale_step: multipliers of the raw position and log-scale outputs.
    """

    audio_dim: int = 768
    audio_tokens: int = 16
    audio_encoder: str | None = None
    au_dim: int = 6
    identity_dim: int = 512
    window: int = 8
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 8
    ffn_dim: int = 1024
    dropout: float = 0.1
    au_hidden: int = 64
    adain_hidden: int = 256
    backbone_layers: int = 4
    n_expr: int = 50
    n_jaw: int = 3
    n_emotions: int = 7
    residual: str = "paper"
    gate_hidden: int = 128
    p_teacher: float = 0.5
    emotion_directions: dict[str, Any] | None = None
    mouth: bool = True
    mouth_levels: int = 12
    mouth_level_dim: int = 1
    mouth_base_res: int = 16
    mouth_log2_table: int = 17
    mouth_finest_res: float | None = None
    mouth_bound: float = 0.15
    mouth_hidden: int = 64
    mouth_layers: int = 3
    mouth_pos_step: float = 0.01
    mouth_scale_step: float = 0.001

    @property
    def motion_dim(self) -> int:
        """Width of δ: expression + jaw."""
        return self.n_expr + self.n_jaw

    def validate(self) -> None:
        if self.residual not in RESIDUAL_VARIANTS:
            raise EmotagError(f"motion residual variant must be one of {', '.join(RESIDUAL_VARIANTS)}, "
                              f"got {self.residual!r}")
        if self.d_model % self.n_heads:
            raise EmotagError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        positive = {k: getattr(self, k) for k in ("audio_dim", "audio_tokens", "au_dim", "identity_dim", "window",
                                                  "d_model", "n_layers", "n_heads", "ffn_dim", "n_expr",
                                                  "n_emotions", "mouth_levels", "mouth_base_res")}
        bad = {k: v for k, v in positive.items() if v < 1}
        if bad:
            raise EmotagError(f"motion config: these must be positive: {bad}")
        if not 0.0 <= self.p_teacher <= 1.0:
            raise EmotagError(f"p_teacher must be in [0, 1], got {self.p_teacher}")
        if self.emotion_directions is not None:
            if self.residual != "paper":
                raise EmotagError("emotion directions need the 'paper' residual variant (its decoder reads π)")
            widths = {len(row) for row in self.emotion_directions.get("directions", [])}
            if widths != {self.motion_dim}:
                raise EmotagError(f"emotion directions of width {sorted(widths)} do not fit a motion of "
                                  f"{self.motion_dim} ({self.n_expr} expression + {self.n_jaw} jaw)")
        if self.mouth_bound <= 0:
            raise EmotagError(f"mouth_bound must be positive, got {self.mouth_bound}")

    def check_audio(self, encoder: str | None, dim: int) -> None:
        """Refuse audio features made by another encoder than the one this network expects."""
        problem = audio_mismatch((self.audio_encoder, self.audio_dim), (encoder, dim))
        if problem:
            raise EmotagError(f"the motion network expects audio features from {self.audio_encoder or 'an encoder'} "
                              f"({self.audio_dim}-d): {problem}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MotionConfig:
        """Rebuild from ``to_dict`` output; unknown keys are an error (a newer prior?)."""
        config = from_dict(cls, data)
        config.validate()
        return config
