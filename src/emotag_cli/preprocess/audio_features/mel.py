"""The weight-free default encoder: an 80-bin log-mel spectrogram at 50 Hz.

Each token is one 40 ms Hann window (640 samples, zero-padded to a 1024-point FFT) centred on
sample ``320 * i`` (the signal is zero-padded by 512 samples at both ends), filtered into 80 Slaney
mel bands over 0–8 kHz. Power is taken as log10, floored 80 dB below the utterance's peak (as
Whisper does), then normalised per utterance: every band gets zero mean and unit standard
deviation over time, with the deviation floored at 0.1 (1 dB) so that near-constant bands, and
digital silence, give values near 0 instead of amplified noise.
"""

from __future__ import annotations

import numpy as np

from .spectrum import mel_power
from .windows import SAMPLES_PER_TOKEN

N_MELS = 80
N_FFT = 1024
WIN_LENGTH = 2 * SAMPLES_PER_TOKEN  # 40 ms
DYNAMIC_RANGE_LOG10 = 8.0  # 80 dB
STD_FLOOR = 0.1  # log10 units: 1 dB

ENCODER_ID = f"mel-{N_MELS}"


def encode_mel(wav: np.ndarray) -> tuple[np.ndarray, dict]:
    """Normalised log-mel tokens float32 [1 + len(wav) // 320, 80] of 16 kHz mono ``wav``."""
    power = mel_power(wav, n_fft=N_FFT, hop=SAMPLES_PER_TOKEN, win_length=WIN_LENGTH, n_mels=N_MELS)
    log_mel = np.log10(np.maximum(power, 1e-10))
    log_mel = np.maximum(log_mel, log_mel.max() - DYNAMIC_RANGE_LOG10)
    mean = log_mel.mean(axis=1, keepdims=True)
    std = np.maximum(log_mel.std(axis=1, keepdims=True), STD_FLOOR)
    tokens = ((log_mel - mean) / std).T.astype(np.float32)
    meta = {
        "encoder": ENCODER_ID,
        "n_fft": N_FFT,
        "win_length": WIN_LENGTH,
        "normalisation": "log10 power floored at peak-80dB; per-band zero mean, unit std (floor 1 dB)",
    }
    return np.ascontiguousarray(tokens), meta
