"""The audio input of SyncNet: MFCCs as python_speech_features' ``mfcc(int16 samples, 16000)``
computes them (its defaults), with numpy and scipy."""

from __future__ import annotations

import numpy as np
import scipy.fft

from ...contract import AUDIO_RATE

# python_speech_features.mfcc defaults (winlen 0.025 s, winstep 0.01 s at 16 kHz).
N_MFCC = 13
N_FILTERS = 26
NFFT = 512
PREEMPH = 0.97
CEPLIFTER = 22
INT16_SCALE = 32768.0  # syncnet_python feeds int16 samples; the scale sets coefficient 0 (log energy)


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


def mel_filterbank(rate: int = AUDIO_RATE) -> np.ndarray:
    """``[26, 257]`` triangles on FFT bins: 28 points equally spaced in mel from 0 Hz to rate / 2,
    each rounded down to bin ``floor(513 * hz / rate)``; filter j rises from point j to j+1 and
    falls to j+2 (python_speech_features' ``get_filterbanks``)."""
    edges = np.floor((NFFT + 1) * _mel_to_hz(np.linspace(0, _hz_to_mel(rate / 2), N_FILTERS + 2)) / rate)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    k = np.arange(NFFT // 2 + 1)[None]
    with np.errstate(divide="ignore", invalid="ignore"):
        rise = np.where((k >= lo) & (k < mid), (k - lo) / (mid - lo), 0.0)
        fall = np.where((k >= mid) & (k < hi), (hi - k) / (hi - mid), 0.0)
    return rise + fall


def mfcc(audio: np.ndarray, rate: int = AUDIO_RATE) -> np.ndarray:
    """Mono float audio ``[S]`` in [-1, 1] -> float64 ``[M, 13]`` MFCCs at 100 Hz.

    python_speech_features' ``mfcc(x, 16000)`` of the int16 samples ``x = audio * 32768``:
    pre-emphasis ``y[n] = x[n] - 0.97 x[n-1]`` (``y[0] = x[0]``); 25 ms frames (400 samples) every
    10 ms, no window, the last one zero-padded, ``M = 1 + ceil((S - 400) / 160)``; power spectrum
    ``|rfft_512|^2 / 512``; log of the 26 mel filter energies; orthonormal DCT-II, first 13;
    lifter ``1 + 11 sin(pi n / 22)``; coefficient 0 replaced by the log of the frame's total power
    (the sum of its 257 power bins). Zeros become machine epsilon before a log.
    """
    x = np.asarray(audio, np.float64) * INT16_SCALE
    x = np.append(x[:1], x[1:] - PREEMPH * x[:-1])
    win, hop = round(0.025 * rate), round(0.01 * rate)
    m = 1 if len(x) <= win else 1 + int(np.ceil((len(x) - win) / hop))
    x = np.pad(x, (0, (m - 1) * hop + win - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop][:m]
    power = np.abs(np.fft.rfft(frames, NFFT)) ** 2 / NFFT
    eps = np.finfo(np.float64).eps
    bands = power @ mel_filterbank(rate).T
    cep = scipy.fft.dct(np.log(np.where(bands == 0, eps, bands)), type=2, norm="ortho", axis=1)[:, :N_MFCC]
    cep *= 1 + (CEPLIFTER / 2) * np.sin(np.pi * np.arange(N_MFCC) / CEPLIFTER)
    energy = power.sum(axis=1)
    cep[:, 0] = np.log(np.where(energy == 0, eps, energy))
    return cep
