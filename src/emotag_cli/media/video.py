"""Decode any video ffmpeg reads into RGB frames at a constant frame rate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from ..errors import EmotagError
from .probe import MediaInfo

HELD_FRAMES = 3     # a stream may end this many output frames before its nominal duration


class TruncatedVideo(EmotagError):
    """Fewer frames decode than the container announces: the file is cut short or damaged.
    ``decoded`` output frames (all real) were yielded before this was raised."""

    def __init__(self, path: Path, decoded: int, expected: int, fps: float, reason: str = "") -> None:
        self.decoded, self.expected = decoded, expected
        super().__init__(f"{path.name}: only {decoded} of {expected} frames could be decoded (the file is cut "
                         f"short or damaged after {decoded / fps:.2f} s{'; ' + reason if reason else ''})")


def decode_cfr(info: MediaInfo, fps: float = 25.0, max_side: int | None = None,
               n_frames: int | None = None) -> Iterator[np.ndarray]:
    """Yield ``n_frames`` (default ``info.n_frames(fps)``) RGB frames [H, W, 3] uint8 at a constant ``fps``.

    Output frame i shows the source frame whose timestamp is nearest to ``start + i / fps``
    (what ffmpeg's ``fps`` filter does), so variable-frame-rate and 30 fps inputs come out evenly
    spaced: frames are repeated or dropped, never blended. ``max_side`` downsizes on decode (for
    detection passes) keeping the aspect ratio.

    Frames are never invented: when the stream stops (or fails to decode) more than HELD_FRAMES
    before its announced end, ``TruncatedVideo`` is raised after the real frames were yielded.
    """
    n_out = info.n_frames(fps) if n_frames is None else n_frames
    scale = None
    if max_side is not None and max(info.width, info.height) > max_side:
        s = max_side / max(info.width, info.height)
        scale = (max(2, int(round(info.width * s / 2)) * 2), max(2, int(round(info.height * s / 2)) * 2))

    def to_rgb(frame: av.VideoFrame) -> np.ndarray:
        if scale is not None:
            return frame.to_ndarray(format="rgb24", width=scale[0], height=scale[1])
        return frame.to_ndarray(format="rgb24")

    emitted = 0
    prev: tuple[float, np.ndarray] | None = None
    try:
        with av.open(str(info.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                t = float(frame.pts * stream.time_base) - info.start_s
                img = None
                # Emit every output slot whose time lies before this frame, choosing the nearer
                # of the previous and this frame.
                while emitted < n_out:
                    slot = emitted / fps
                    if t < slot:
                        break
                    if prev is not None and slot - prev[0] <= t - slot:
                        yield prev[1]
                    else:
                        img = to_rgb(frame) if img is None else img
                        yield img
                    emitted += 1
                if emitted >= n_out:
                    break
                prev = (t, to_rgb(frame) if img is None else img)
    except av.error.FFmpegError as exc:
        raise TruncatedVideo(info.path, emitted, n_out, fps, f"decoding failed: {exc}") from None
    if prev is None and emitted == 0:
        raise EmotagError(f"{info.path.name}: no video frame could be decoded (corrupt file?)")
    # The stream may end a little before its nominal duration: hold the last frame, but only briefly.
    if n_out - emitted > HELD_FRAMES:
        raise TruncatedVideo(info.path, emitted, n_out, fps)
    while emitted < n_out and prev is not None:
        yield prev[1]
        emitted += 1


def read_frame_size(path: Path) -> tuple[int, int]:
    """(width, height) of the first video stream."""
    with av.open(str(path)) as container:
        s = container.streams.video[0]
        return s.width, s.height
