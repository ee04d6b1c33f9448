"""wav2vec2 / HuBERT ``last_hidden_state`` at 50 Hz from a local Hugging Face model folder.

EmoTaG uses facebook/wav2vec2-base-960h (768-d). Nothing is ever downloaded: the folder is the
one the user names (``--audio-encoder-path``), else ``$EMOTAG_WAV2VEC2`` / ``$EMOTAG_HUBERT``,
else ``$EMOTAG_HOME/<model name>``, else the model's entry in the Hugging Face hub cache. A hub
cache entry (``models--org--name``) resolves to the snapshot ``refs/main`` points at.

The waveform is normalised over the whole utterance (zero mean, unit variance) by the folder's
``Wav2Vec2FeatureExtractor`` when it has a ``preprocessor_config.json`` (which may switch
normalisation off), and by the same formula here when it has none. The normalised signal is then
encoded in 20 s chunks with 1 s of context each side, which bounds attention memory. Token ``i``
sees samples ``[320 i, 320 i + R)`` (R = the conv stack's receptive field, 400 for the base
models), so a chunk starting at token ``s`` is fed from sample ``320 s`` and its tokens line up
with the unchunked sequence.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...backends import BackendStatus, cache_dir, has_module
from ...errors import EmotagError, MissingBackendError
from .chunks import plan_chunks
from .windows import SAMPLE_RATE, SAMPLES_PER_TOKEN, TOKEN_RATE_HZ


@dataclass(frozen=True)
class Family:
    name: str  # the --audio-encoder value
    model_type: str  # config.json "model_type"
    class_name: str  # transformers class holding the bare encoder
    default_repo: str  # looked up in $EMOTAG_HOME and the hub cache when no path is given
    env_var: str


FAMILIES = {
    "wav2vec2": Family(
        "wav2vec2", "wav2vec2", "Wav2Vec2Model", "facebook/wav2vec2-base-960h", "EMOTAG_WAV2VEC2"
    ),
    "hubert": Family("hubert", "hubert", "HubertModel", "facebook/hubert-large-ls960-ft", "EMOTAG_HUBERT"),
}

CHUNK_SECONDS = 20.0
MARGIN_SECONDS = 1.0
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
INSTALL_HINT = "pip install 'emotag[hf]' (transformers, safetensors)"


def hub_cache() -> Path:
    """The Hugging Face hub cache folder, honouring HF_HUB_CACHE and HF_HOME."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    return Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"


def default_places(family: Family) -> list[Path]:
    """Where a folder is looked for when the user names none, in order."""
    places = [Path(os.environ[family.env_var])] if os.environ.get(family.env_var) else []
    org, name = family.default_repo.split("/")
    return places + [cache_dir() / name, hub_cache() / f"models--{org}--{name}"]


def resolve_folder(path: Path) -> Path | None:
    """The folder holding ``config.json``: ``path`` itself, or a hub-cache entry's snapshot."""
    path = path.expanduser()
    if (path / "config.json").is_file():
        return path
    snapshots = path / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = path / "refs" / "main"
    if ref.is_file() and (snapshots / ref.read_text().strip() / "config.json").is_file():
        return snapshots / ref.read_text().strip()
    found = [s for s in snapshots.iterdir() if (s / "config.json").is_file()]
    return max(found, key=lambda s: s.stat().st_mtime) if found else None


def model_label(folder: Path) -> str:
    """The model's name: the repo name for a hub-cache snapshot, else the folder's name."""
    if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
        return folder.parent.parent.name.split("--")[-1]
    return folder.name


def _missing(family: Family, where: str) -> MissingBackendError:
    return MissingBackendError(
        f"{family.name} weights not found {where}: put a Hugging Face model folder (config.json and "
        f"model.safetensors or pytorch_model.bin, e.g. {family.default_repo}) there, or pass one with "
        f"--audio-encoder-path DIR or ${family.env_var}"
    )


def find_folder(family: Family, path: Path | None) -> Path:
    """The model folder to load, or MissingBackendError saying what to put where."""
    if path is not None:
        folder = resolve_folder(Path(path))
        if folder is None:
            raise _missing(family, f"at {path}")
    else:
        places = default_places(family)
        folder = next((f for f in map(resolve_folder, places) if f is not None), None)
        if folder is None:
            raise _missing(family, "(looked in " + ", ".join(map(str, places)) + ")")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise _missing(family, f"in {folder} (config.json but no weights file)")
    return folder


def check(family_name: str, path: Path | None) -> Path:
    """The folder ``encode_hf`` would load, after the checks that need no model loading."""
    family = FAMILIES[family_name]
    if not has_module("transformers"):
        raise MissingBackendError(f"--audio-encoder {family.name} needs {INSTALL_HINT}")
    folder = find_folder(family, path)
    try:
        model_type = json.loads((folder / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, AttributeError) as err:
        raise EmotagError(f"{folder / 'config.json'} is not a readable model config: {err}") from err
    _check_model_type(family, model_type, folder)
    return folder


def _check_model_type(family: Family, model_type: str | None, folder: Path | str) -> None:
    if model_type == family.model_type:
        return
    others = [f.name for f in FAMILIES.values() if f.model_type == model_type]
    advice = f"use --audio-encoder {others[0]}" if others else f"point at a {family.model_type} folder"
    raise EmotagError(f"{folder} holds a '{model_type}' model, not {family.model_type}: {advice}")


def status(family_name: str) -> BackendStatus:
    family = FAMILIES[family_name]
    name = f"audio/{family.name}"
    if not has_module("transformers"):
        return BackendStatus(name, False, "transformers not installed", INSTALL_HINT)
    try:
        return BackendStatus(name, True, str(find_folder(family, None)))
    except MissingBackendError:
        where = "looked in " + ", ".join(map(str, default_places(family)))
        hint = (
            f"pass --audio-encoder-path DIR (a local copy of {family.default_repo}) or set ${family.env_var}"
        )
        return BackendStatus(name, False, where, hint)


def receptive_field(conv_kernel: tuple[int, ...], conv_stride: tuple[int, ...]) -> int:
    """Samples seen by one output token of a stack of 1-D convolutions (no padding)."""
    field, jump = 1, 1
    for kernel, stride in zip(conv_kernel, conv_stride, strict=True):
        field += (kernel - 1) * jump
        jump *= stride
    return field


@functools.lru_cache(maxsize=2)
def _load(folder: str, family_name: str, device: str):
    """(model in eval mode on ``device``, feature extractor or None) for one folder."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers

    family = FAMILIES[family_name]
    config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
    _check_model_type(family, config.model_type, folder)
    stride = math.prod(config.conv_stride)
    if stride != SAMPLES_PER_TOKEN:
        raise EmotagError(
            f"{folder}: the model emits a token every {stride} samples; emotag needs "
            f"{SAMPLES_PER_TOKEN} (50 Hz at 16 kHz), as in the base/large wav2vec2 and HuBERT models"
        )
    model_class = getattr(transformers, family.class_name)
    with _quiet(transformers):  # CTC checkpoints carry an lm_head the bare encoder does not use
        model, info = model_class.from_pretrained(
            folder, config=config, local_files_only=True, output_loading_info=True
        )
    # A key that is not in the checkpoint would be left at its random initialisation, silently.
    missing = sorted(k for k in info["missing_keys"] if not k.endswith("masked_spec_embed"))
    if missing:
        raise EmotagError(
            f"{folder}: {len(missing)} {family.class_name} weights are not in the checkpoint "
            f"(e.g. {missing[0]}); is it a complete {family.model_type} model?"
        )
    model = model.eval().to(device)
    extractor = None
    if (Path(folder) / "preprocessor_config.json").is_file():
        extractor = transformers.Wav2Vec2FeatureExtractor.from_pretrained(folder, local_files_only=True)
        if extractor.sampling_rate != SAMPLE_RATE:
            raise EmotagError(f"{folder}: the model expects {extractor.sampling_rate} Hz audio, not 16 kHz")
    return model, extractor


@contextlib.contextmanager
def _quiet(transformers):
    """Silence transformers' load report and progress bar (emotag draws its own progress)."""
    logging = transformers.utils.logging
    previous, bar = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(previous)
        if bar:
            logging.enable_progress_bar()


def normalise(wav: np.ndarray, extractor) -> tuple[np.ndarray, str]:
    """The model's input signal for the whole utterance, and how it was normalised."""
    if extractor is not None:
        values = extractor(wav, sampling_rate=SAMPLE_RATE, return_tensors="np")["input_values"][0]
        how = (
            "zero mean, unit variance (feature extractor)"
            if extractor.do_normalize
            else "none (feature extractor)"
        )
        return values.astype(np.float32), how
    # Wav2Vec2FeatureExtractor's formula, for folders without a preprocessor_config.json.
    values = (wav - wav.mean()) / np.sqrt(wav.var() + 1e-7)
    return values.astype(np.float32), "zero mean, unit variance (no preprocessor_config.json)"


def encode_hf(
    wav: np.ndarray,
    family_name: str,
    path: Path | None = None,
    device: str = "cpu",
    chunk_seconds: float = CHUNK_SECONDS,
    margin_seconds: float = MARGIN_SECONDS,
) -> tuple[np.ndarray, dict]:
    """``last_hidden_state`` float32 [about len(wav) / 320, hidden] of 16 kHz mono ``wav``.

    The sequence may be one token short of ``ceil(len(wav) / 320)``: the last token needs a full
    receptive field of samples.
    """
    family = FAMILIES[family_name]
    folder = check(family_name, path)
    import torch

    model, extractor = _load(str(folder), family.name, str(device))
    values, how = normalise(wav, extractor)
    config = model.config
    extra = receptive_field(tuple(config.conv_kernel), tuple(config.conv_stride)) - SAMPLES_PER_TOKEN
    n_tokens = max(1, -(-len(values) // SAMPLES_PER_TOKEN))
    plan = plan_chunks(n_tokens, round(chunk_seconds * TOKEN_RATE_HZ), round(margin_seconds * TOKEN_RATE_HZ))
    parts = []
    with torch.inference_mode():
        for chunk in plan:
            segment = values[chunk.start * SAMPLES_PER_TOKEN : chunk.stop * SAMPLES_PER_TOKEN + extra]
            if len(segment) < SAMPLES_PER_TOKEN + extra:  # shorter than one receptive field
                segment = np.pad(segment, (0, SAMPLES_PER_TOKEN + extra - len(segment)))
            inputs = torch.from_numpy(np.ascontiguousarray(segment))[None].to(device)
            states = model(inputs).last_hidden_state[0].float().cpu().numpy()
            parts.append(states[chunk.keep_start - chunk.start : chunk.keep_stop - chunk.start])
    meta = {
        "encoder": f"{family.name}:{model_label(folder)}",
        "model_path": str(folder),
        "model_type": config.model_type,
        "hidden_layers": config.num_hidden_layers,
        "normalisation": how,
        "chunk_s": chunk_seconds,
        "chunk_margin_s": margin_seconds,
    }
    return np.concatenate(parts, axis=0), meta
