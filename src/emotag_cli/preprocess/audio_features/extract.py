"""The scene's audio features: one window of 16 encoder tokens (50 Hz) per 25 fps video frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...backends import BackendStatus, has_module
from ...errors import EmotagError
from . import hf, mel, phones, phonetic, whisper, words
from .windows import (
    SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    TOKEN_RATE_HZ,
    TOKENS_PER_FRAME,
    WINDOW,
    fit_tokens,
    frame_windows,
)

BASE_ENCODERS = ("mel", "whisper-tiny", "wav2vec2", "hubert")
# "phones" alone, or appended per token to any base encoder ("mel+phones": 80 + 16 channels).
PHONES_SUFFIX = "+" + phonetic.ENCODER_ID
ENCODERS = BASE_ENCODERS + (phonetic.ENCODER_ID,) + tuple(b + PHONES_SUFFIX for b in BASE_ENCODERS)
DEFAULT_ENCODER = "mel"
_PATH_ENCODERS = ("wav2vec2", "hubert")


def split_encoder(encoder: str) -> tuple[str | None, bool]:
    """(base encoder or None, whether phones are appended) of an ``--audio-encoder`` value."""
    if encoder == phonetic.ENCODER_ID:
        return None, True
    if encoder.endswith(PHONES_SUFFIX):
        return encoder[: -len(PHONES_SUFFIX)], True
    return encoder, False


def encoder_option(encoder_id: str) -> str:
    """The ``--audio-encoder`` value that makes features with the manifest id ``encoder_id``
    (``mel-80+phones`` -> ``mel+phones``, ``wav2vec2:wav2vec2-base-960h`` -> ``wav2vec2``)."""
    if encoder_id == phonetic.ENCODER_ID:
        return encoder_id
    suffix = PHONES_SUFFIX if encoder_id.endswith(PHONES_SUFFIX) else ""
    base = encoder_id[: len(encoder_id) - len(suffix)]
    return ("mel" if base.startswith("mel") else base.split(":")[0]) + suffix


def fit_audio(wav: np.ndarray, n_frames: int) -> np.ndarray:
    """``wav`` cut to, or zero-padded at the end to, exactly ``n_frames * 640`` samples (float32)."""
    n_samples = n_frames * SAMPLES_PER_FRAME
    wav = np.asarray(wav, dtype=np.float32)[:n_samples]
    return np.pad(wav, (0, n_samples - len(wav)))


def check_encoder(encoder: str, path: str | Path | None = None) -> None:
    """Raise the error ``extract_audio_features`` would raise for a bad or missing encoder, cheaply.

    Meant for the start of a run, before any slow work: nothing is loaded or computed.
    """
    if encoder not in ENCODERS:
        raise EmotagError(f"unknown audio encoder {encoder!r}; choose one of: {', '.join(ENCODERS)}")
    base, with_phones = split_encoder(encoder)
    if path is not None and base not in _PATH_ENCODERS:
        raise EmotagError(f"--audio-encoder-path applies to {' and '.join(_PATH_ENCODERS)}, not {encoder}")
    if with_phones:
        phonetic.check()
    if base == "whisper-tiny":
        whisper.check()
    elif base in _PATH_ENCODERS:
        hf.check(base, Path(path) if path is not None else None)


def encode_tokens(
    wav: np.ndarray, encoder: str = DEFAULT_ENCODER, path: Path | None = None, device: str = "cpu"
) -> tuple[np.ndarray, dict]:
    """The encoder's raw token sequence float32 [about len(wav) / 320, D] for 16 kHz mono ``wav``.

    ``<base>+phones``: the base encoder's tokens with the 16 phones channels appended to each.
    """
    base, with_phones = split_encoder(encoder)
    if base is None:
        return phonetic.encode_phones(wav)
    if with_phones:
        tokens, meta = encode_tokens(wav, base, path, device)
        extra, phones_meta = phonetic.encode_phones(wav, n_tokens=len(tokens))
        meta.update(phones_meta, encoder=meta["encoder"] + PHONES_SUFFIX, base_dim=int(tokens.shape[1]))
        return np.concatenate([tokens, extra], axis=1), meta
    if encoder == "mel":
        return mel.encode_mel(wav)
    if encoder == "whisper-tiny":
        return whisper.encode_whisper(wav, device)
    if encoder in _PATH_ENCODERS:
        return hf.encode_hf(wav, encoder, path, device)
    raise EmotagError(f"unknown audio encoder {encoder!r}; choose one of: {', '.join(ENCODERS)}")


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
    mel_ok = has_module("librosa")
    mel_status = BackendStatus(
        "audio/mel",
        mel_ok,
        "librosa (no weights)" if mel_ok else "librosa not installed",
        "" if mel_ok else "pip install librosa",
    )
    return [mel_status, whisper.status(), hf.status("wav2vec2"), hf.status("hubert"), phones.status(),
            words.status()]
