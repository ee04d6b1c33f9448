"""How far a clip's sound is shifted from its picture, measured from the lips.

Two per-frame tracks at the scene's frame rate:

- the inner-lip opening of the scene's MediaPipe landmarks (``lip_signals.mouth_opening``:
  mean gap of three facing inner-lip points / inter-ocular distance);
- an audio activity track of the same frames, ``AUDIO_TRACK(wav, fps)``: for now the loudness of
  each frame in the 1–3 kHz band (``loudness_track``). A phonetic mouth-opening track with the same
  signature (16 kHz float32 samples and fps in, ``[T]`` float32 out) replaces it by assigning
  ``AUDIO_TRACK``.

Both are smoothed and high-passed (a moving average over ``DETREND_S`` is subtracted, so slow drifts
of loudness or head pose do not count), and their Pearson correlation is computed at every lag of
±``MAX_LAG_S``. The best lag, refined to a fraction of a frame by a parabola through its
neighbours, is the offset: positive when the sound comes *after* the lip movement it matches
(the audio is late), negative when it comes before. A correction shifts the audio by minus the
offset. The measurement is trusted only when the peak stands out from the other lags
(``Measurement.reliable``): on a clip without much speech the tracks do not correlate at any lag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from ..contract import AUDIO_RATE

MAX_LAG_S = 1.0          # search range, each way
WARN_FRAMES = 2.0        # offsets above this many frames are reported (80 ms at 25 fps)
DETREND_S = 1.0          # high-pass: subtract a moving average over this long
MIN_PEAK = 0.35          # the best correlation must reach this, ...
MIN_MARGIN = 0.15        # ... beat every lag more than 3 frames away from it by this much, ...
HALVES_AGREE_MS = 200.0  # ... and each half of the clip alone must find it within this
MIN_SECONDS = 2.0        # shorter clips are not measured (reliable = False)
WINDOW = 1024            # samples of the loudness track's analysis window (64 ms)
BAND_HZ = (1000.0, 3000.0)
FLOOR_DB = 50.0


def loudness_track(wav: np.ndarray, fps: float) -> np.ndarray:
    """Mono 16 kHz samples ``[S]`` -> float32 ``[T]`` loudness per frame, T = S·fps/16000: the log
    energy (dB) of the 1–3 kHz band in a Hann window of 1024 samples centred on each frame, floored
    ``FLOOR_DB`` below the loudest frame.

    The band is where the second formant moves with the lips; full-band RMS is dominated by voicing
    (the same whatever the mouth does) and found the injected shift on 7 of 21 windows of 8 s of
    the German clip, this band on 21 of 21 (docs/commands/preprocess.md, "Audio offset").
    """
    hop = AUDIO_RATE / fps
    n = int(len(wav) // hop)
    pad = (WINDOW - int(round(hop))) // 2
    x = np.pad(np.asarray(wav, np.float64), (pad, WINDOW))
    starts = (np.arange(n) * hop).round().astype(int)
    frames = x[starts[:, None] + np.arange(WINDOW)] * np.hanning(WINDOW)
    freqs = np.fft.rfftfreq(WINDOW, 1 / AUDIO_RATE)
    band = (freqs >= BAND_HZ[0]) & (freqs < BAND_HZ[1])
    energy = (np.abs(np.fft.rfft(frames, axis=1)[:, band]) ** 2).sum(axis=1)
    db = 10 * np.log10(energy + 1e-12)
    return np.maximum(db, db.max(initial=0.0) - FLOOR_DB).astype(np.float32)


# The audio side of the measurement: (wav [S] float32 at 16 kHz, fps) -> [T] float32. A phonetic
# mouth-opening track with that signature replaces loudness by assigning it here.
AUDIO_TRACK: Callable[[np.ndarray, float], np.ndarray] = loudness_track


@dataclass(frozen=True)
class Measurement:
    """offset_ms: the sound's delay after the picture (> 0: audio late); offset_frames: the same in
    frames; correlation: r at the best lag; at_zero: r at lag 0; margin: how far the best lag beats
    every lag more than 3 frames from it; halves_ms: the offsets of the clip's first and second
    halves measured alone (NaN for a clip too short to split); track: the audio track's name."""

    offset_ms: float
    offset_frames: float
    correlation: float
    at_zero: float
    margin: float
    halves_ms: tuple[float, float]
    track: str

    @property
    def reliable(self) -> bool:
        """The peak is high, stands out, and both halves of the clip agree on it (by chance, on
        another clip's audio, they rarely do)."""
        agree = all(abs(h - self.offset_ms) <= HALVES_AGREE_MS for h in self.halves_ms)
        return self.correlation >= MIN_PEAK and self.margin >= MIN_MARGIN and agree

    def to_dict(self) -> dict:
        return {**asdict(self), "halves_ms": list(self.halves_ms), "reliable": self.reliable}


def _highpass(x: np.ndarray, fps: float) -> np.ndarray:
    from ..lip_signals import smooth

    x = smooth(x)
    return x - smooth(x, max(3, int(round(DETREND_S * fps)) | 1))


def lag_correlations(opening: np.ndarray, audio: np.ndarray, max_lag: int) -> np.ndarray:
    """Pearson r of ``opening[t]`` and ``audio[t + k]`` for k = -max_lag..max_lag -> ``[2·max_lag + 1]``."""
    from ..lip_signals import lagged_correlation

    return np.array([lagged_correlation(opening, audio, k)[0] for k in range(-max_lag, max_lag + 1)])


def _best_lag(opening: np.ndarray, audio: np.ndarray, max_lag: int) -> tuple[float, np.ndarray]:
    """(best lag in frames, refined by a parabola through its neighbours; the r per lag)."""
    r = lag_correlations(opening, audio, max_lag)
    if not np.isfinite(r).any():
        return float("nan"), r
    best = int(np.nanargmax(r))
    frac = 0.0
    if 0 < best < len(r) - 1 and np.isfinite(r[best - 1:best + 2]).all():
        a, b, c = r[best - 1], r[best], r[best + 1]
        denom = a - 2 * b + c
        frac = float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5)) if denom < 0 else 0.0
    return best - max_lag + frac, r


def measure(wav: np.ndarray, landmarks: np.ndarray, fps: float) -> Measurement:
    """The offset of ``wav`` ([S] float32, 16 kHz, sample 0 at frame 0) against the lips of
    ``landmarks`` ([N, 478, 3] MediaPipe, NaN rows without a face)."""
    from ..lip_signals import mouth_opening

    opening = mouth_opening(landmarks)
    audio = np.asarray(AUDIO_TRACK(wav, fps), np.float64)
    n = min(len(opening), len(audio))
    name = getattr(AUDIO_TRACK, "__name__", "audio track")
    unmeasured = Measurement(0.0, 0.0, float("nan"), float("nan"), 0.0, (float("nan"),) * 2, name)
    if n < MIN_SECONDS * fps:
        return unmeasured
    opening, audio = _highpass(opening[:n], fps), _highpass(audio[:n], fps)
    max_lag = max(1, min(int(round(MAX_LAG_S * fps)), n // 3))
    lag, r = _best_lag(opening, audio, max_lag)
    if not np.isfinite(lag):
        return unmeasured
    best = int(round(lag)) + max_lag
    far = np.abs(np.arange(len(r)) - best) > 3
    margin = float(r[best] - np.nanmax(r[far])) if np.isfinite(r[far]).any() else 0.0
    half = n // 2
    halves = tuple(1000 * _best_lag(opening[s], audio[s], max_lag)[0] / fps
                   for s in (slice(0, half), slice(half, n))) if half >= 2 * max_lag else (float("nan"),) * 2
    return Measurement(round(1000 * lag / fps, 1), round(lag, 2), float(r[best]), float(r[max_lag]), margin,
                       tuple(round(h, 1) for h in halves), name)


def shift_audio(wav: np.ndarray, delay_ms: float) -> np.ndarray:
    """Undo a measured delay: the audio moves ``delay_ms`` earlier (later if negative); the length
    stays, the gap is silence."""
    shift = int(round(delay_ms / 1000 * AUDIO_RATE))
    if shift == 0:
        return wav
    out = np.zeros_like(wav)
    if shift > 0:
        out[:len(wav) - shift] = wav[shift:]
    else:
        out[-shift:] = wav[:len(wav) + shift]
    return out


def check_av_offset(wav: np.ndarray, landmarks: np.ndarray, fps: float, setting: str, name: str,
                    reporter) -> tuple[np.ndarray, dict]:
    """Measure the offset of a scene's audio and act on ``setting`` (``PreprocessConfig.av_offset``):
    "warn" warns above ``WARN_FRAMES``; "auto" (the default) shifts the audio by a reliable offset
    above it and warns when the best lag is above it but not reliable, or cannot be measured;
    a number shifts the audio by that many ms. Returns (audio to store, the manifest record)."""
    found = measure(wav, landmarks, fps)
    record: dict = {"measured": found.to_dict(), "setting": setting, "applied_ms": 0.0}
    big = found.reliable and abs(found.offset_frames) > WARN_FRAMES
    said = (f"{name}: the audio is {abs(found.offset_ms):.0f} ms {'late' if found.offset_ms > 0 else 'early'} "
            f"against the lips ({found.track} vs lip opening: r {found.correlation:.2f} there, "
            f"{found.at_zero:.2f} as recorded)")
    if setting == "warn":
        if big:
            reporter.warn(f"{said}; an avatar would learn the shift: re-run with --av-offset auto to correct it")
        return wav, record
    if setting == "auto":
        if not found.reliable:
            if np.isfinite(found.correlation) and abs(found.offset_frames) <= WARN_FRAMES:
                return wav, record          # nothing to correct, reliable or not
            why = (f"best r {found.correlation:.2f}" if np.isfinite(found.correlation)
                   else f"under {MIN_SECONDS:g} s of audio with a face")
            reporter.warn(f"{name}: the audio's offset from the lips could not be measured reliably ({why}); "
                          f"audio kept as recorded, give --av-offset MS to shift it")
            return wav, record
        if not big:
            return wav, record
        applied = found.offset_ms
        reporter.warn(f"{said}; shifted it {abs(applied):.0f} ms {'earlier' if applied > 0 else 'later'} "
                      f"(--av-offset auto)")
    else:
        applied = float(setting)
    wav = shift_audio(wav, applied)
    record["applied_ms"] = applied
    record["after"] = measure(wav, landmarks, fps).to_dict()
    return wav, record
