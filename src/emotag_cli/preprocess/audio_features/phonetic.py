"""The ``phones`` audio encoder: 50 Hz tokens of viseme posteriors plus the mouth-opening track.

Token ``i`` (time ``0.02 i`` s) holds 16 values: the 15 coarticulated viseme posteriors at that
time (visemes.py, summing to 1) followed by the nominal mouth opening read 80 ms ahead, in [0, 1].
Used alone (``--audio-encoder phones``) or appended to another encoder's tokens
(``--audio-encoder whisper-tiny+phones``), see extract.py.
"""

from __future__ import annotations

import numpy as np

from ...errors import MissingBackendError
from .phones import INSTALL_HINT, model_dir, speech_to_phones
from .visemes import LEAD_S, SMOOTH_S, VISEMES, opening_track, viseme_posteriors
from .windows import SAMPLES_PER_TOKEN, TOKEN_RATE_HZ

ENCODER_ID = "phones"
DIM = len(VISEMES) + 1  # 16


def check() -> None:
    """MissingBackendError when pocketsphinx is not installed."""
    if model_dir() is None:
        raise MissingBackendError(f"--audio-encoder ...{ENCODER_ID} needs pocketsphinx: {INSTALL_HINT}")


def encode_phones(wav: np.ndarray, n_tokens: int | None = None) -> tuple[np.ndarray, dict]:
    """Tokens float32 [n_tokens (default ceil(len(wav) / 320)), 16] of 16 kHz mono ``wav``, and a
    description whose ``phones`` entry says how the phones were found (and every fallback taken)."""
    check()
    if n_tokens is None:
        n_tokens = max(1, -(-len(wav) // SAMPLES_PER_TOKEN))
    track = speech_to_phones(wav)
    times = np.arange(n_tokens, dtype=np.float64) / TOKEN_RATE_HZ
    posteriors = viseme_posteriors(track.phones, track.duration_s, times)
    opening = opening_track(track.phones, track.duration_s, times)
    tokens = np.concatenate([posteriors, opening[:, None]], axis=1).astype(np.float32)
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
