"""What a media file holds, read once before any decoding."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

from ..errors import EmotagError


@dataclass(frozen=True)
class MediaInfo:
    """Summary of the first video and audio streams of a file.

    start_s / duration_s: the video stream's first timestamp and length in seconds.
    n_frames_25: the number of frames at 25 fps constant frame rate, round(duration_s * 25).
    """

    path: Path
    width: int
    height: int
    codec: str
    pix_fmt: str
    average_fps: float
    start_s: float
    duration_s: float
    has_audio: bool
    audio_rate: int | None
    audio_channels: int | None
    audio_start_s: float | None

    def n_frames(self, fps: float) -> int:
        return int(round(self.duration_s * fps))


def _is_image(container: av.container.InputContainer) -> bool:
    """A still picture (png, jpeg, webp, …): ffmpeg opens it as a one-frame "image2" or "*_pipe" stream."""
    names = set(container.format.name.split(","))
    return bool(names & {"image2", "image2pipe"}) or any(n.endswith("_pipe") for n in names)


def probe(path: Path) -> MediaInfo:
    """Read the container and stream headers. Raises EmotagError for anything not a video."""
    path = Path(path)
    if not path.exists():
        raise EmotagError(f"input not found: {path}")
    if not path.is_file():
        raise EmotagError(f"input is not a file: {path}")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise EmotagError(f"cannot read {path.name}: not a media file ffmpeg can decode ({exc})") from None
    with container:
        if _is_image(container):
            raise EmotagError(f"{path.name} is an image, not a video")
        if not container.streams.video:
            raise EmotagError(f"{path.name} has no video stream")
        v = container.streams.video[0]
        if not v.width or not v.height:
            raise EmotagError(f"{path.name}: the video stream has no frame size (corrupt file?)")
        start = float(v.start_time * v.time_base) if v.start_time is not None else 0.0
        if v.duration is not None:
            duration = float(v.duration * v.time_base)
        elif container.duration is not None:
            duration = container.duration / 1e6 - start
        else:
            duration = 0.0
        a = container.streams.audio[0] if container.streams.audio else None
        return MediaInfo(
            path=path,
            width=v.width,
            height=v.height,
            codec=v.codec_context.name,
            pix_fmt=v.codec_context.format.name if v.codec_context.format else "unknown",
            average_fps=float(v.average_rate) if v.average_rate else 0.0,
            start_s=start,
            duration_s=duration,
            has_audio=a is not None,
            audio_rate=a.rate if a is not None else None,
            audio_channels=a.channels if a is not None else None,
            audio_start_s=(float(a.start_time * a.time_base) if a is not None and a.start_time is not None
                           else (start if a is not None else None)),
        )
