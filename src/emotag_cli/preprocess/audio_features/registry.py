"""The audio encoders ``--audio-encoder`` can name: one registry, read by preprocess, render,
``emotag doctor`` and the CLI help.

An audio encoder turns 16 kHz mono audio into tokens at 50 Hz (``windows.py`` then cuts one
window of them per video frame). An encoder that can also *append* its channels to another's
tokens (``append``) combines with every other one: ``--audio-encoder whisper-tiny+phones``.

Adding one is one module that computes its tokens and one ``register_audio_encoder`` call at the
end of this file (import the module inside the callables, as the built-in ones do, so that the
CLI's help does not load it)::

    register_audio_encoder(AudioEncoder(
        "visemes2", "viseme posteriors from another aligner",
        encode=lambda wav, path, device: _module("visemes2").encode(wav),          # → (tokens, meta)
        status=lambda: [_module("visemes2").status()],                             # emotag doctor lines
        check=lambda path: _module("visemes2").check(),                            # cheap; raises
        append=lambda wav, n_tokens: _module("visemes2").encode(wav, n_tokens)))   # optional

``meta["encoder"]`` (what the scene records) must be the name itself or start with the name and
``-`` or ``:`` (``mel-80``, ``wav2vec2:<model>``); a combination records ``<base id>+<name>``.
``encoder_option`` maps a recorded id back to the option.
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
Append = Callable[[np.ndarray, int], tuple[np.ndarray, dict]]
JOIN = "+"


def _no_check(path: Path | None) -> None:
    return None


@dataclass(frozen=True)
class AudioEncoder:
    """One ``--audio-encoder`` choice.

    name: what the CLI and configs call it. summary: one line for help and docs.
    encode(wav [S] float32 16 kHz mono, path, device) → (tokens float32 [≈S / 320, D], meta dict with
        at least "encoder", the id the scene records).
    status() → its ``emotag doctor`` lines. check(path): raise the error ``encode`` would raise for a
        missing model or dependency, without loading anything (run before slow work; what it returns
        is ignored).
    takes_path: whether ``--audio-encoder-path`` (a model folder) applies to it.
    append(wav, n_tokens) → (tokens [n_tokens, D'], meta): its channels for another encoder's
        ``n_tokens`` tokens, when it can be appended (``<base>+<name>``); None when it cannot.
    """

    name: str
    summary: str
    encode: Encode
    status: Callable[[], list[BackendStatus]]
    check: Callable[[Path | None], object] = _no_check
    takes_path: bool = False
    append: Append | None = None


_ENCODERS: Registry[AudioEncoder] = Registry("audio encoder")


def register_audio_encoder(encoder: AudioEncoder) -> AudioEncoder:
    """Make ``encoder`` available under its name (a second registration of a name is an error)."""
    if JOIN in encoder.name:
        raise ValueError(f"audio encoder names cannot hold {JOIN!r}: {encoder.name!r}")
    return _ENCODERS.register(encoder.name, encoder)


def base_encoder_names() -> tuple[str, ...]:
    """The registered encoders that cannot be appended (the default first)."""
    return tuple(n for n in _ENCODERS.names() if _ENCODERS[n].append is None)


def appendable_encoder_names() -> tuple[str, ...]:
    return tuple(n for n in _ENCODERS.names() if _ENCODERS[n].append is not None)


def audio_encoder_names() -> tuple[str, ...]:
    """Every ``--audio-encoder`` value: the registered encoders, then each of them with a different,
    appendable one appended (``whisper-tiny+phones``, ``phones+loudness``)."""
    names = _ENCODERS.names()
    return names + tuple(f"{b}{JOIN}{a}" for a in appendable_encoder_names() for b in names if b != a)


def audio_encoder(name: str) -> AudioEncoder:
    """The registered encoder called ``name``; a one-line error naming the choices for any other."""
    return _ENCODERS[name]


def split_encoder(option: str) -> tuple[AudioEncoder, tuple[AudioEncoder, ...]]:
    """(the encoder whose tokens come first, the encoders appended to them) of an option value."""
    if option not in audio_encoder_names():
        raise EmotagError(f"unknown audio encoder {option!r}; choose one of: {', '.join(audio_encoder_names())}")
    first, *rest = option.split(JOIN)
    return _ENCODERS[first], tuple(_ENCODERS[n] for n in rest)


def encoder_option(recorded: str) -> str:
    """The ``--audio-encoder`` value that makes features with the recorded id ``recorded``
    (``mel-80+phones`` → ``mel+phones``, ``wav2vec2:wav2vec2-base-960h`` → ``wav2vec2``)."""
    def option(part: str) -> str:
        names = [n for n in _ENCODERS.names() if part == n or part.startswith((n + "-", n + ":"))]
        if not names:
            raise EmotagError(f"audio features from {recorded!r}: no audio encoder of this emotag makes them")
        return max(names, key=len)

    return JOIN.join(option(part) for part in recorded.split(JOIN))


# ---------------------------------------------------------------- the built-in encoders


def _module(name: str):
    """A built-in encoder's module, imported on first use (librosa and friends load slowly)."""
    return importlib.import_module(f"{__package__}.{name}")


def _mel_status() -> list[BackendStatus]:
    ok = has_module("librosa")
    return [BackendStatus("audio/mel", ok, "librosa (no weights)" if ok else "librosa not installed",
                          "" if ok else "pip install librosa")]


register_audio_encoder(AudioEncoder(
    "mel", "80-bin log-mel, no weights (the default)",
    encode=lambda wav, path, device: _module("mel").encode_mel(wav), status=_mel_status))
register_audio_encoder(AudioEncoder(
    "whisper-tiny", "Whisper tiny.en encoder (CTranslate2)",
    encode=lambda wav, path, device: _module("whisper").encode_whisper(wav, device),
    status=lambda: [_module("whisper").status()], check=lambda path: _module("whisper").check()))
for _family in ("wav2vec2", "hubert"):
    register_audio_encoder(AudioEncoder(
        _family, f"a local Hugging Face {_family} folder",
        encode=lambda wav, path, device, f=_family: _module("hf").encode_hf(wav, f, path, device),
        status=lambda f=_family: [_module("hf").status(f)],
        check=lambda path, f=_family: _module("hf").check(f, path), takes_path=True))
register_audio_encoder(AudioEncoder(
    "phones", "pocketsphinx viseme posteriors and mouth opening; appendable (e.g. whisper-tiny+phones)",
    encode=lambda wav, path, device: _module("phonetic").encode_phones(wav),
    status=lambda: [_module("phones").status(), _module("words").status()],
    check=lambda path: _module("phonetic").check(),
    append=lambda wav, n_tokens: _module("phonetic").encode_phones(wav, n_tokens=n_tokens)))
register_audio_encoder(AudioEncoder(
    "loudness", "level against the clip's loud parts, one channel, no weights; appendable (e.g. phones+loudness)",
    encode=lambda wav, path, device: _module("loudness").encode_loudness(wav),
    status=lambda: [BackendStatus("audio/loudness", True, "numpy (no weights)", "")],
    append=lambda wav, n_tokens: _module("loudness").encode_loudness(wav, n_tokens=n_tokens)))
