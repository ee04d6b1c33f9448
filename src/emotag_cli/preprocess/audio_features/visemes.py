"""Phones to visemes, and visemes to per-frame features and a mouth-opening track.

The 15 visemes are the MPEG-4 / Oculus set (``sil PP FF TH DD kk CH SS nn RR aa E I O U``); each
ARPAbet phone maps to one (``PHONE_TO_VISEME``), anything else (pocketsphinx's noise fillers) is
``sil``. Each viseme has a nominal mouth opening in [0, 1] (``OPENING``): open vowels 1, p/b/m and
silence 0, f/v nearly closed.

The phones are first laid on a 100 Hz grid (one viseme per 10 ms, pocketsphinx's resolution).
Coarticulation — the lips moving towards the next sound before it starts and lingering after it —
is modelled by Gaussian smoothing over time (sigma 40 ms): one-hots become soft viseme posteriors
that still sum to 1. The mouth-opening track is the nominal opening smoothed the same way and read
80 ms early (the lips lead the sound they make), sampled at the video frames.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ...errors import MissingBackendError
from .phones import FRAME_S, INSTALL_HINT, Phone, model_dir, speech_to_phones
from .windows import SAMPLE_RATE

VISEMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U")
PHONE_TO_VISEME = {
    "SIL": "sil",
    "P": "PP", "B": "PP", "M": "PP",
    "F": "FF", "V": "FF",
    "TH": "TH", "DH": "TH",
    "T": "DD", "D": "DD",
    "K": "kk", "G": "kk", "NG": "kk", "HH": "kk",
    "CH": "CH", "JH": "CH", "SH": "CH", "ZH": "CH",
    "S": "SS", "Z": "SS",
    "N": "nn", "L": "nn",
    "R": "RR", "ER": "RR",
    "AA": "aa", "AE": "aa", "AH": "aa", "AY": "aa", "AW": "aa",
    "EH": "E", "EY": "E",
    "IH": "I", "IY": "I", "Y": "I",
    "AO": "O", "OW": "O", "OY": "O",
    "UH": "U", "UW": "U", "W": "U",
}
# Nominal lip opening per viseme, 0 = closed, 1 = wide open vowel.
OPENING = {
    "sil": 0.0, "PP": 0.0, "FF": 0.1, "TH": 0.25, "DD": 0.3, "kk": 0.4, "CH": 0.25, "SS": 0.2,
    "nn": 0.3, "RR": 0.35, "aa": 1.0, "E": 0.7, "I": 0.5, "O": 0.75, "U": 0.4,
}
SMOOTH_S = 0.04
LEAD_S = 0.08
GRID_HZ = round(1 / FRAME_S)  # 100


def viseme_index(label: str) -> int:
    """Index into ``VISEMES`` of an ARPAbet phone (stress digits ignored); unknown labels are silence."""
    return VISEMES.index(PHONE_TO_VISEME.get(label.rstrip("012").upper(), "sil"))


def viseme_grid(phones: list[Phone], duration_s: float) -> np.ndarray:
    """Viseme index per 10 ms from 0 to ``duration_s``: int64 [ceil(duration_s * 100)]; gaps are silence."""
    grid = np.zeros(max(1, int(np.ceil(duration_s * GRID_HZ - 1e-6))), dtype=np.int64)
    for p in phones:
        a, b = int(round(p.start_s * GRID_HZ)), int(round(p.end_s * GRID_HZ))
        grid[max(a, 0) : max(b, a + 1)] = viseme_index(p.label)
    return grid


def _sample(track: np.ndarray, times_s: np.ndarray) -> np.ndarray:
    """Linear interpolation of a 100 Hz ``track [K, ...]`` (value k at time k / 100 s) at ``times_s``."""
    pos = np.clip(times_s * GRID_HZ, 0, len(track) - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, len(track) - 1)
    w = (pos - lo).reshape((-1,) + (1,) * (track.ndim - 1))
    return (1 - w) * track[lo] + w * track[hi]


def viseme_posteriors(phones: list[Phone], duration_s: float, times_s: np.ndarray,
                      smooth_s: float = SMOOTH_S) -> np.ndarray:
    """Soft viseme one-hots float32 [len(times_s), 15] at ``times_s`` (rows sum to 1), coarticulated by
    Gaussian smoothing with sigma ``smooth_s`` seconds."""
    onehot = np.eye(len(VISEMES), dtype=np.float64)[viseme_grid(phones, duration_s)]
    if smooth_s > 0:
        onehot = gaussian_filter1d(onehot, smooth_s * GRID_HZ, axis=0, mode="nearest")
    return _sample(onehot, np.asarray(times_s, np.float64)).astype(np.float32)


def opening_track(phones: list[Phone], duration_s: float, times_s: np.ndarray, smooth_s: float = SMOOTH_S,
                  lead_s: float = LEAD_S) -> np.ndarray:
    """Mouth opening float32 [len(times_s)] in [0, 1]: the visemes' nominal opening, smoothed with
    sigma ``smooth_s`` and read ``lead_s`` seconds ahead of each time."""
    table = np.array([OPENING[v] for v in VISEMES])
    opening = table[viseme_grid(phones, duration_s)]
    if smooth_s > 0:
        opening = gaussian_filter1d(opening, smooth_s * GRID_HZ, mode="nearest")
    return np.clip(_sample(opening, np.asarray(times_s, np.float64) + lead_s), 0.0, 1.0).astype(np.float32)


def frame_times(n_frames: int, fps: float) -> np.ndarray:
    """Time of each video frame in seconds (frame t at t / fps, sample 0 at frame 0)."""
    return np.arange(n_frames, dtype=np.float64) / fps


def n_video_frames(n_samples: int, fps: float) -> int:
    """Video frames covering ``n_samples`` of 16 kHz audio: round(seconds * fps), at least 1."""
    return max(1, int(round(n_samples / SAMPLE_RATE * fps)))


def mouth_opening(wav: np.ndarray, fps: float, *, use_words: bool = True, words: list[str] | None = None,
                  smooth_s: float = SMOOTH_S, lead_s: float = LEAD_S) -> np.ndarray:
    """Phones -> mouth opening per video frame: float32 [round(len(wav) / 16000 * fps)] in [0, 1].

    wav: mono float32 [S] at 16 kHz, sample 0 at frame 0. Speech is aligned or recognised with
    pocketsphinx (phones.py; never raises on audio content), silence gives 0. ``use_words`` /
    ``words``: as in ``speech_to_phones``.
    """
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    wav = np.asarray(wav, np.float32)
    if wav.ndim != 1:
        raise ValueError(f"wav must be mono [S], got shape {wav.shape}")
    if model_dir() is None:  # without it every window would silently come out as silence
        raise MissingBackendError(f"the phones mouth-opening track needs pocketsphinx: {INSTALL_HINT}")
    track = speech_to_phones(wav, use_words=use_words, words=words)
    times = frame_times(n_video_frames(len(wav), fps), fps)
    return opening_track(track.phones, track.duration_s, times, smooth_s, lead_s)
