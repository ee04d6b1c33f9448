"""Loudness: one channel per 20 ms token, how loud the audio is against its own loud parts.

Appended to another encoder (``--audio-encoder phones+loudness``), it gives the motion network
what phones cannot: how much effort a syllable gets (speakers open wider when they speak up).

    level_t   = 10·log10(mean power of a 40 ms Hann window centred on token t)        dB
    loudness_t = clip((level_t − L95 + RANGE_DB) / RANGE_DB, 0, 1)

L95, the 95th percentile of the levels over the clip, stands for its loud parts, so the channel
does not depend on the recording's gain; everything RANGE_DB (35 dB, the silence threshold of
the lip-sync figures) or more below them — room noise, pauses, digital silence — is 0, so a
network reading it sees no reason to open the mouth there.
"""

from __future__ import annotations

import numpy as np

from .windows import SAMPLE_RATE, SAMPLES_PER_TOKEN

ENCODER_ID = "loudness"
RANGE_DB = 35.0
WINDOW = 2 * SAMPLES_PER_TOKEN          # 40 ms at 16 kHz
FLOOR = 1e-10                           # power floor (−100 dB): digital silence stays finite


def levels_db(wav: np.ndarray, n_tokens: int) -> np.ndarray:
    """[n_tokens] float64 dB: mean power of a Hann window of WINDOW samples centred on each token
    (token t at sample t·320; the signal zero-padded past its ends)."""
    hop = SAMPLES_PER_TOKEN
    x = np.zeros((n_tokens + 1) * hop)                         # padded: sample i of wav at i + hop
    n = min(len(wav), n_tokens * hop)
    x[hop:hop + n] = np.asarray(wav[:n], np.float64)
    blocks = (x ** 2).reshape(n_tokens + 1, hop)               # the window of token t spans blocks t, t + 1
    window = np.hanning(WINDOW)
    window /= window.sum()
    power = blocks[:-1] @ window[:hop] + blocks[1:] @ window[hop:]
    return 10.0 * np.log10(np.maximum(power, FLOOR))


def encode_loudness(wav: np.ndarray, n_tokens: int | None = None) -> tuple[np.ndarray, dict]:
    """Tokens float32 [n_tokens (default ceil(len(wav) / 320)), 1] of 16 kHz mono ``wav``."""
    if n_tokens is None:
        n_tokens = max(1, -(-len(wav) // SAMPLES_PER_TOKEN))
    level = levels_db(wav, n_tokens)
    loud = float(np.percentile(level, 95))
    tokens = np.clip((level - loud + RANGE_DB) / RANGE_DB, 0.0, 1.0).astype(np.float32)[:, None]
    meta = {"encoder": ENCODER_ID,
            "loudness": {"channels": ["loudness"], "range_db": RANGE_DB, "reference": "95th percentile",
                         "reference_db": round(loud, 2), "window_ms": 1000 * WINDOW // SAMPLE_RATE}}
    return tokens, meta
