"""Stream frames (and optionally audio) into an H.264 mp4."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


class VideoWriter:
    """Write RGB frames one at a time; memory stays flat however long the video is.

    Frames are [H, W, 3] uint8 with even H and W (yuv420p). Audio, when given to ``close``, is
    mono float32 at ``audio_rate`` and is muxed as AAC from time 0.
    """

    def __init__(self, path: Path, width: int, height: int, fps: float = 25.0, crf: int = 18,
                 audio_rate: int | None = None):
        self.path = Path(path)
        self._container = av.open(str(self.path), mode="w")
        rate = Fraction(fps).limit_denominator(1001)
        self._video = self._container.add_stream("libx264", rate=rate)
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuv420p"
        self._video.options = {"crf": str(crf), "preset": "veryfast"}
        self._audio = None
        if audio_rate is not None:
            self._audio = self._container.add_stream("aac", rate=audio_rate)
            self._audio.layout = "mono"
        self.frames = 0
        self._closed = False

    def write(self, rgb: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.frames
        self.frames += 1
        for packet in self._video.encode(frame):
            self._container.mux(packet)

    def close(self, audio: np.ndarray | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        for packet in self._video.encode():
            self._container.mux(packet)
        if self._audio is not None and audio is not None:
            self._write_audio(np.asarray(audio, dtype=np.float32))
        self._container.close()

    def _write_audio(self, samples: np.ndarray) -> None:
        stream = self._audio
        rate = stream.rate
        chunk = 1024
        for pts in range(0, len(samples), chunk):
            block = samples[pts:pts + chunk]
            frame = av.AudioFrame.from_ndarray(block[None, :], format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = pts
            for packet in stream.encode(frame):
                self._container.mux(packet)
        for packet in stream.encode(None):
            self._container.mux(packet)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        elif not self._closed:
            self._closed = True
            self._container.close()
