"""Decode the audio of any media file to mono float32 at a fixed sample rate."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from ..errors import EmotagError


def decode_audio(path: Path, rate: int = 16000) -> tuple[np.ndarray, float]:
    """Return (samples [S] float32 in [-1, 1], start time of the first sample in seconds).

    Any codec, rate and channel layout ffmpeg reads; channels are averaged to mono and resampled
    by libswresample.
    """
    if not Path(path).exists():
        raise EmotagError(f"{path}: no such file")
    if not Path(path).is_file():
        raise EmotagError(f"{path} is not a file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise EmotagError(f"cannot read {Path(path).name}: not a media file ffmpeg can decode ({exc})") from None
    with container:
        if not container.streams.audio:
            raise EmotagError(f"{Path(path).name} has no audio track")
        stream = container.streams.audio[0]
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            raise EmotagError(f"{Path(path).name}: audio decoding failed ({exc})") from None
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return samples, start


def align_to_frames(samples: np.ndarray, offset_s: float, n_frames: int, fps: float = 25.0,
                    rate: int = 16000) -> np.ndarray:
    """Place audio on the video timeline: exactly ``n_frames * rate / fps`` samples.

    offset_s is the audio start minus the video start; audio before frame 0 is dropped, a late
    start is padded with silence, and the end is trimmed or zero-padded to the video's length.
    """
    n_out = int(round(n_frames * rate / fps))
    shift = int(round(offset_s * rate))
    if shift > 0:
        samples = np.concatenate([np.zeros(shift, np.float32), samples])
    elif shift < 0:
        samples = samples[-shift:]
    if len(samples) >= n_out:
        return samples[:n_out].copy()
    return np.concatenate([samples, np.zeros(n_out - len(samples), np.float32)])
