"""The audio encoders ``--audio-encoder`` can name: one registry, read by preprocess, render,
``emotag doctor`` and the CLI help.

An audio encoder turns 16 kHz mono audio into tokens at 50 Hz (``windows.py`` then cuts one
window of them per video frame). Adding one is one module that computes its tokens and one
``register_audio_encoder`` call at the end of this file (import the module inside the callables,
as the built-in ones do, so that the CLI's help does not load it)::

    register_audio_encoder(AudioEncoder(
        "phones", "phone posteriors from pocketsphinx",
        encode=lambda wav, path, device: phones.encode_phones(wav),    # → (tokens [≈len/320, D], meta)
        status=phones.status,                                          # → BackendStatus, for doctor
        check=lambda path: phones.check()))                            # cheap; raises when unusable

``meta["encoder"]`` (what the scene records) must be the name itself or start with the name and
``-`` or ``:`` (``mel-80``, ``wav2vec2:<model>``): ``encoder_of_record`` maps it back to the name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...backends import BackendStatus, has_module
from ...errors import EmotagError
from ...registry import Registry

Encode = Callable[[np.ndarray, Path | None, str], tuple[np.ndarray, dict]]


def _no_check(path: Path | None) -> None:
    return None


@dataclass(frozen=True)
class AudioEncoder:
    """One ``--audio-encoder`` choice.

    name: what the CLI and configs call it. summary: one line for help and docs.
    encode(wav [S] float32 16 kHz mono, path, device) → (tokens float32 [≈S / 320, D], meta dict with
        at least "encoder", the id the scene records).
    status() → its ``emotag doctor`` line. check(path): raise the error ``encode`` would raise for a
        missing model or dependency, without loading anything (run before slow work; what it returns
        is ignored).
    takes_path: whether ``--audio-encoder-path`` (a model folder) applies to it.
    """

    name: str
    summary: str
    encode: Encode
    status: Callable[[], BackendStatus]
    check: Callable[[Path | None], object] = _no_check
    takes_path: bool = False


_ENCODERS: Registry[AudioEncoder] = Registry("audio encoder")


def register_audio_encoder(encoder: AudioEncoder) -> AudioEncoder:
    """Make ``encoder`` available under its name (a second registration of a name is an error)."""
    return _ENCODERS.register(encoder.name, encoder)


def audio_encoder_names() -> tuple[str, ...]:
    """The registered names, in registration order (the default first)."""
    return _ENCODERS.names()


def audio_encoder(name: str) -> AudioEncoder:
    """The encoder called ``name``; a one-line error naming the choices for any other name."""
    return _ENCODERS[name]


def encoder_of_record(recorded: str) -> str:
    """The registered name behind the id a scene or avatar records (``mel-80`` → ``mel``)."""
    names = [n for n in _ENCODERS.names() if recorded == n or recorded.startswith((n + "-", n + ":"))]
    if not names:
        raise EmotagError(f"audio features from {recorded!r}: no audio encoder of this emotag makes them")
    return max(names, key=len)


# ---------------------------------------------------------------- the built-in encoders


def _module(name: str):
    """A built-in encoder's module, imported on first use (librosa and friends load slowly)."""
    return importlib.import_module(f"{__package__}.{name}")


def _mel_status() -> BackendStatus:
    ok = has_module("librosa")
    return BackendStatus("audio/mel", ok, "librosa (no weights)" if ok else "librosa not installed",
                         "" if ok else "pip install librosa")


register_audio_encoder(AudioEncoder(
    "mel", "80-bin log-mel, no weights (the default)",
    encode=lambda wav, path, device: _module("mel").encode_mel(wav), status=_mel_status))
register_audio_encoder(AudioEncoder(
    "whisper-tiny", "Whisper tiny.en encoder (CTranslate2)",
    encode=lambda wav, path, device: _module("whisper").encode_whisper(wav, device),
    status=lambda: _module("whisper").status(), check=lambda path: _module("whisper").check()))
for _family in ("wav2vec2", "hubert"):
    register_audio_encoder(AudioEncoder(
        _family, f"a local Hugging Face {_family} folder",
        encode=lambda wav, path, device, f=_family: _module("hf").encode_hf(wav, f, path, device),
        status=lambda f=_family: _module("hf").status(f),
        check=lambda path, f=_family: _module("hf").check(f, path), takes_path=True))
