"""The ``phones`` audio encoder: 50 Hz tokens of viseme posteriors plus the mouth-opening track.

Token ``i`` (time ``0.02 i`` s) holds 16 values: the 15 coarticulated viseme posteriors at that
time (visemes.py, summing to 1) followed by the nominal mouth opening read 80 ms ahead, in [0, 1].
Used alone (``--audio-encoder phones``) or appended to another encoder's tokens
(``--audio-encoder whisper-tiny+phones``), see extract.py.
"""

from __future__ import annotations

import numpy as np

from ...errors import MissingBackendError
from .phones import INSTALL_HINT, PhoneTrack, model_dir, speech_to_phones
from .visemes import LEAD_S, SMOOTH_S, VISEMES, frame_times, n_video_frames, opening_track, viseme_posteriors
from .windows import SAMPLES_PER_TOKEN, TOKEN_RATE_HZ

ENCODER_ID = "phones"
DIM = len(VISEMES) + 1  # 16


def check() -> None:
    """MissingBackendError when pocketsphinx is not installed."""
    if model_dir() is None:
        raise MissingBackendError(f"--audio-encoder ...{ENCODER_ID} needs pocketsphinx: {INSTALL_HINT}")


def features_at(track: PhoneTrack, times_s: np.ndarray) -> np.ndarray:
    """The 16 phones channels float32 [len(times_s), 16] of ``track`` at ``times_s`` seconds."""
    posteriors = viseme_posteriors(track.phones, track.duration_s, times_s)
    opening = opening_track(track.phones, track.duration_s, times_s)
    return np.concatenate([posteriors, opening[:, None]], axis=1).astype(np.float32)


def frame_features(wav: np.ndarray, fps: float) -> np.ndarray:
    """Per video frame (frame t at t / fps): float32 [round(len(wav) / 16000 * fps), 16] of 16 kHz mono
    ``wav`` — 15 viseme posteriors and the mouth opening, as in the tokens but at any frame rate."""
    check()
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    wav = np.asarray(wav, np.float32)
    return features_at(speech_to_phones(wav), frame_times(n_video_frames(len(wav), fps), fps))


def encode_phones(wav: np.ndarray, n_tokens: int | None = None) -> tuple[np.ndarray, dict]:
    """Tokens float32 [n_tokens (default ceil(len(wav) / 320)), 16] of 16 kHz mono ``wav``, and a
    description whose ``phones`` entry says how the phones were found (and every fallback taken)."""
    check()
    if n_tokens is None:
        n_tokens = max(1, -(-len(wav) // SAMPLES_PER_TOKEN))
    track = speech_to_phones(wav)
    tokens = features_at(track, np.arange(n_tokens, dtype=np.float64) / TOKEN_RATE_HZ)
    meta = {
        "encoder": ENCODER_ID,
        "phones": {
            "channels": [f"viseme:{v}" for v in VISEMES] + ["opening"],
            "smooth_s": SMOOTH_S,
            "opening_lead_s": LEAD_S,
            **track.summary(),
        },
    }
    return tokens, meta
