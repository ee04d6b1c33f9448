"""The scene's audio features: one window of 16 encoder tokens (50 Hz) per 25 fps video frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...backends import BackendStatus
from ...errors import EmotagError
from .registry import (
    JOIN,
    audio_encoder,
    audio_encoder_names,
    base_encoder_names,
    encoder_option,
    split_encoder,
)
from .windows import (
    SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    TOKEN_RATE_HZ,
    TOKENS_PER_FRAME,
    WINDOW,
    fit_tokens,
    frame_windows,
)

ENCODERS = audio_encoder_names()
BASE_ENCODERS = base_encoder_names()      # those that cannot be appended to another (mel, whisper-tiny, …)
DEFAULT_ENCODER = ENCODERS[0]

__all__ = ["BASE_ENCODERS", "DEFAULT_ENCODER", "ENCODERS", "check_encoder", "encode_tokens", "encoder_option",
           "extract_audio_features", "fit_audio", "status"]


def fit_audio(wav: np.ndarray, n_frames: int) -> np.ndarray:
    """``wav`` cut to, or zero-padded at the end to, exactly ``n_frames * 640`` samples (float32)."""
    n_samples = n_frames * SAMPLES_PER_FRAME
    wav = np.asarray(wav, dtype=np.float32)[:n_samples]
    return np.pad(wav, (0, n_samples - len(wav)))


def check_encoder(encoder: str, path: str | Path | None = None) -> None:
    """Raise the error ``extract_audio_features`` would raise for a bad or missing encoder, cheaply.

    Meant for the start of a run, before any slow work: nothing is loaded or computed.
    """
    first, appended = split_encoder(encoder)
    if path is not None and not first.takes_path:
        takes = [n for n in audio_encoder_names() if JOIN not in n and audio_encoder(n).takes_path]
        raise EmotagError(f"--audio-encoder-path applies to {' and '.join(takes)}, not {encoder}")
    for entry in appended:
        entry.check(None)
    first.check(Path(path) if path is not None else None)


def encode_tokens(
    wav: np.ndarray, encoder: str = DEFAULT_ENCODER, path: Path | None = None, device: str = "cpu"
) -> tuple[np.ndarray, dict]:
    """The encoder's raw token sequence float32 [about len(wav) / 320, D] for 16 kHz mono ``wav``.

    ``<base>+<appended>`` (e.g. ``mel+phones``): the base encoder's tokens with the appended
    encoder's channels added to each.
    """
    first, appended = split_encoder(encoder)
    tokens, meta = first.encode(wav, path, device)
    for entry in appended:
        extra, extra_meta = entry.append(wav, len(tokens))
        meta.update(extra_meta, encoder=meta["encoder"] + JOIN + entry.name, base_dim=int(tokens.shape[1]))
        tokens = np.concatenate([tokens, extra], axis=1)
    return tokens, meta


def extract_audio_features(
    wav: np.ndarray,
    n_frames: int,
    encoder: str = DEFAULT_ENCODER,
    path: Path | None = None,
    device: str = "cpu",
) -> tuple[np.ndarray, dict]:
    """Per-frame audio token windows float16 [n_frames, 16, D] and a JSON-ready description.

    wav: 16 kHz mono, sample 0 at frame 0; audio beyond ``n_frames * 640`` samples is dropped and
        missing audio is zero-padded at the end (the description records which).
    encoder: one of ``ENCODERS``; ``path`` is the model folder for wav2vec2 / hubert.
    device: "cpu", "cuda" or "cuda:N" (mel always runs on the CPU).

    Frame ``t``'s window holds tokens ``2t - 8 .. 2t + 7`` (its centre token ``2t`` at index 8),
    with the first / last token repeated beyond the ends of the sequence.
    """
    check_encoder(encoder, path)
    wav = np.asarray(wav)
    if wav.ndim != 1:
        raise EmotagError(f"audio must be mono (one channel), got an array of shape {wav.shape}")
    if n_frames < 1:
        raise EmotagError(f"need at least one video frame, got {n_frames}")
    if not np.all(np.isfinite(wav)):
        raise EmotagError("the audio contains NaN or infinite samples")

    audio = fit_audio(wav, n_frames)
    tokens, meta = encode_tokens(audio, encoder, path, device)
    encoder_tokens = len(tokens)
    tokens = fit_tokens(tokens, TOKENS_PER_FRAME * n_frames).astype(np.float16)
    if not np.all(np.isfinite(tokens)):
        raise EmotagError(f"the {encoder} encoder produced values outside the float16 range")
    shortfall = n_frames * SAMPLES_PER_FRAME - len(wav)
    meta.update(
        dim=int(tokens.shape[1]),
        dtype="float16",
        sample_rate=SAMPLE_RATE,
        token_rate_hz=TOKEN_RATE_HZ,
        window=WINDOW,
        window_centre="token 2t at window index 8",
        window_padding="edge",
        n_frames=n_frames,
        encoder_tokens=encoder_tokens,
        audio_samples=len(wav),
        audio_fit=("padded" if shortfall > 0 else "trimmed" if shortfall < 0 else "exact"),
        audio_fit_samples=abs(shortfall),
    )
    return frame_windows(tokens, n_frames), meta


def status() -> list[BackendStatus]:
    """One line per audio encoder for ``emotag doctor``."""
    return [line for name in audio_encoder_names() if JOIN not in name for line in audio_encoder(name).status()]
