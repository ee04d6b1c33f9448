"""The Gated Residual Motion Network (GRMN) of EmoTaG, its losses and training helpers.

See docs/reference/motion-network.md. Typical use::

    config = MotionConfig(audio_dim=384, identity_dim=128, audio_encoder="whisper-tiny")
    model = GRMN(config)
    out = model(audio_windows, aus, identity)                  # auto emotion and intensity
    emotion, intensity = emotion_request("happy", 0.8)
    out = model(audio_windows, aus, identity, emotion, intensity)
    deltas = model.mouth(mouth_positions, out.audio_feature)
"""

from .adain import AdaIN, channel_normalize
from .audio_transformer import AudioTransformer, sinusoidal_encoding
from .config import RESIDUAL_VARIANTS, MotionConfig
from .control import EMOTIONS, NEUTRAL, emotion_request, emotion_score, substitute, teacher_forcing
from .decoder import DecoderOutput, ExpertMotionDecoder
from .ema import EMA
from .encoder import IdentityConditionedEncoder
from .grmn import GRMN, MotionOutput
from .hashgrid import HashGrid2D, level_resolutions
from .losses import (
    depth_loss,
    emotion_kl_loss,
    flame_loss,
    gate_loss,
    geometry_loss,
    normal_loss,
    render_loss,
    row_normalize,
    seg_loss,
)
from .mouth import MouthDeltas, MouthRefinement
from .params import adain_parameters, count_parameters, optimizer_groups, tune
from .windows import frame_windows

__all__ = [
    "EMA", "EMOTIONS", "GRMN", "NEUTRAL", "RESIDUAL_VARIANTS", "AdaIN", "AudioTransformer", "DecoderOutput",
    "ExpertMotionDecoder", "HashGrid2D", "IdentityConditionedEncoder", "MotionConfig", "MotionOutput",
    "MouthDeltas", "MouthRefinement", "adain_parameters", "channel_normalize", "count_parameters",
    "depth_loss", "emotion_kl_loss", "emotion_request", "emotion_score", "flame_loss", "frame_windows",
    "gate_loss", "geometry_loss", "level_resolutions", "normal_loss", "optimizer_groups", "render_loss",
    "row_normalize", "seg_loss", "sinusoidal_encoding", "substitute", "teacher_forcing", "tune",
]
