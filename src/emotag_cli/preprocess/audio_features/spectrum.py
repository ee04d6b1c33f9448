"""Mel power spectrogram computed in blocks, so memory stays bounded for long audio."""

from __future__ import annotations

import librosa
import numpy as np

from .windows import SAMPLE_RATE


def mel_power(
    wav: np.ndarray,
    *,
    n_fft: int,
    hop: int,
    win_length: int,
    n_mels: int,
    pad_mode: str = "constant",
    block_frames: int = 3000,
) -> np.ndarray:
    """Mel-filtered power spectrum of 16 kHz ``wav``: float32 [n_mels, 1 + len(wav) // hop].

    Equal to a centred STFT (frame ``i`` centred on sample ``i * hop``, signal padded by
    ``n_fft // 2`` with ``pad_mode``) with a Hann window and librosa's Slaney mel filters over
    0–8 kHz, but the complex STFT is only ever held for ``block_frames`` frames at a time.
    """
    basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=n_fft, n_mels=n_mels).astype(np.float32)
    padded = np.pad(wav.astype(np.float32, copy=False), n_fft // 2, mode=pad_mode)
    n_out = 1 + len(wav) // hop
    out = np.empty((n_mels, n_out), dtype=np.float32)
    for f0 in range(0, n_out, block_frames):
        f1 = min(n_out, f0 + block_frames)
        segment = padded[f0 * hop : (f1 - 1) * hop + n_fft]
        spec = librosa.stft(
            segment, n_fft=n_fft, hop_length=hop, win_length=win_length, window="hann", center=False
        )
        out[:, f0:f1] = basis @ (spec.real**2 + spec.imag**2)
    return out
