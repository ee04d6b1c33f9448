"""From a 50 Hz token sequence to one window of tokens per 25 fps video frame.

Every encoder yields tokens at 50 Hz (320 samples at 16 kHz), two per video frame. Frame ``t``
sees the ``WINDOW`` tokens ``[2t - WINDOW/2, 2t + WINDOW/2)``, so its centre token ``2t`` sits at
index ``WINDOW/2`` of the window; indices outside the sequence repeat its first or last token
(edge-replicate padding), as in EmoTaG's ``aud_w2v.npy`` (docs/scene-format.md).
"""

from __future__ import annotations

import numpy as np

from ...contract import AUDIO_RATE, FPS

SAMPLE_RATE = AUDIO_RATE
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640
TOKENS_PER_FRAME = 2
SAMPLES_PER_TOKEN = SAMPLES_PER_FRAME // TOKENS_PER_FRAME  # 320
TOKEN_RATE_HZ = SAMPLE_RATE // SAMPLES_PER_TOKEN  # 50
WINDOW = 16


def fit_tokens(tokens: np.ndarray, n_tokens: int) -> np.ndarray:
    """Trim ``tokens`` [T, D] to ``n_tokens`` rows, or extend it by repeating its last row.

    Encoders whose first token needs a full receptive field (wav2vec2: 400 samples) produce one
    token fewer than ``len(wav) / 320``; the missing tail token repeats the last one.
    """
    if n_tokens < 1:
        raise ValueError(f"n_tokens must be positive, got {n_tokens}")
    if len(tokens) == 0:
        raise ValueError("the encoder produced no tokens")
    if len(tokens) >= n_tokens:
        return tokens[:n_tokens]
    tail = np.repeat(tokens[-1:], n_tokens - len(tokens), axis=0)
    return np.concatenate([tokens, tail], axis=0)


def window_indices(n_frames: int, n_tokens: int, window: int = WINDOW) -> np.ndarray:
    """Token index for each (frame, slot): int64 [n_frames, window], clipped to [0, n_tokens)."""
    if window % 2:
        raise ValueError(f"window must be even, got {window}")
    centres = TOKENS_PER_FRAME * np.arange(n_frames, dtype=np.int64)
    offsets = np.arange(-(window // 2), window // 2, dtype=np.int64)
    return np.clip(centres[:, None] + offsets[None, :], 0, n_tokens - 1)


def frame_windows(tokens: np.ndarray, n_frames: int, window: int = WINDOW) -> np.ndarray:
    """Per-frame token windows [n_frames, window, D] from tokens [T, D] at 50 Hz (same dtype)."""
    return tokens[window_indices(n_frames, len(tokens), window)]
