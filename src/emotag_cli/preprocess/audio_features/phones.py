"""Speech to timed phones with pocketsphinx (en-us acoustic model, dictionary and phone LM bundled).

Per 30 s window of the audio, in order:

1. **digital silence** (loudest 10 ms frame under -60 dBFS): one ``SIL`` phone, nothing decoded;
2. **forced alignment** of Whisper tiny.en's words (words.py), when Whisper trusts its transcript
   and at most a quarter of the words are missing from the pronunciation dictionary (those are
   dropped); when the alignment cannot reach the end of the text, it is retried without the first
   word, without the last, and without both — a window that starts or ends mid-word;
3. **phone recognition** with the phone language model: any language, any failure above.

Every step that fails leaves a note and falls through to the next; nothing raises. Phones are
then relabelled ``SIL`` where the audio is quiet (most of the phone more than 40 dB below the
clip's loudest frame), so a pause the decoder filled with a phone still closes the mouth.

Phones are CMU ARPAbet without stress (``AA`` … ``ZH``) or ``SIL``; pocketsphinx's noise fillers
(``+NSN+``, ``+SPN+``, …) are kept as they come and count as silence downstream (visemes.py).
Times are in seconds from sample 0, at pocketsphinx's 10 ms frame resolution.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from ...backends import BackendStatus, has_module
from . import words as whisper_words
from .windows import SAMPLE_RATE

FRAME_S = 0.01  # pocketsphinx's frame shift
SAMPLES_PER_PS_FRAME = int(SAMPLE_RATE * FRAME_S)  # 160
WINDOW_SECONDS = whisper_words.WINDOW_SECONDS
SILENCE_DBFS = -60.0  # a window whose loudest frame is quieter than this is not decoded
QUIET_BELOW_PEAK_DB = 40.0
QUIET_FRACTION = 0.6  # a phone this much in quiet frames becomes SIL
MAX_OOV_FRACTION = 0.25
MIN_SAMPLES = 2 * 410  # two pocketsphinx analysis windows
SILENCE = "SIL"
INSTALL_HINT = "pip install pocketsphinx==5.1.1"
# Phone-loop decoding settings from pocketsphinx's documentation for phone recognition.
ALLPHONE_SETTINGS = {"lw": 2.0, "pip": 0.3, "beam": 1e-200, "pbeam": 1e-20}


@dataclass(frozen=True)
class Phone:
    """label: ARPAbet phone without stress, ``SIL`` or a noise filler; start_s < end_s in seconds."""

    label: str
    start_s: float
    end_s: float


@dataclass
class PhoneTrack:
    """The phones of a whole clip and how they were found.

    phones: consecutive ``Phone``s from 0 to about ``duration_s`` (gaps are silence).
    methods: per 30 s window, "silence", "aligned", "aligned-trimmed" or "recognised".
    words: the words that were aligned (empty when none were).
    notes: one line per fallback taken, e.g. "0-30 s: Whisper unsure transcript (...); phone recognition".
    """

    phones: list[Phone]
    duration_s: float
    methods: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """JSON-ready description for the scene manifest."""
        speech = sum(p.end_s - p.start_s for p in self.phones if p.label[0].isalpha() and p.label != SILENCE)
        return {
            "methods": self.methods,
            "n_phones": sum(p.label != SILENCE for p in self.phones),
            "n_words_aligned": len(self.words),
            "speech_fraction": round(speech / self.duration_s, 3) if self.duration_s > 0 else 0.0,
            "notes": self.notes,
        }


def model_dir():
    """The bundled en-us model folder of the pocketsphinx wheel, or None without pocketsphinx."""
    if not has_module("pocketsphinx"):
        return None
    from pocketsphinx import get_model_path

    return get_model_path("en-us")


def status() -> BackendStatus:
    """``emotag doctor`` line for the phones features."""
    folder = model_dir()
    if folder is None:
        return BackendStatus("audio/phones", False, "pocketsphinx not installed", INSTALL_HINT)
    how = "aligns Whisper's words" if whisper_words.available() else "phone recognition only (no Whisper words)"
    return BackendStatus("audio/phones", True, f"{folder} (pocketsphinx en-us; {how})")


def _pcm(wav: np.ndarray) -> bytes:
    return (np.clip(wav, -1.0, 1.0) * 32767).astype("<i2").tobytes()


@functools.lru_cache(maxsize=1)
def _aligner():
    from pocketsphinx import Decoder

    # bestpath off: alignment has no lattice to rescore.
    return Decoder(samprate=SAMPLE_RATE, bestpath=False, lm=None, loglevel="FATAL")


@functools.lru_cache(maxsize=1)
def _recogniser():
    from pocketsphinx import Decoder, get_model_path

    return Decoder(samprate=SAMPLE_RATE, allphone=get_model_path("en-us/en-us-phone.lm.bin"), lm=None,
                   loglevel="FATAL", **ALLPHONE_SETTINGS)


def in_dictionary(word: str) -> bool:
    return _aligner().lookup_word(word) is not None


def align(wav: np.ndarray, words: list[str]) -> list[Phone] | None:
    """Phones of ``words`` forced onto 16 kHz ``wav``, or None when the alignment does not finish.

    Two passes, as pocketsphinx does it: the word alignment, then the phone and state alignment
    within it. Optional silences between words come out as ``SIL``.
    """
    decoder = _aligner()
    pcm = _pcm(wav)
    try:
        decoder.set_align_text(" ".join(words))
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        if decoder.hyp() is None:  # the search never reached the end of the text
            return None
        decoder.set_alignment()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        alignment = decoder.get_alignment()
        phones = [Phone(p.name, p.start * FRAME_S, (p.start + p.duration) * FRAME_S)
                  for word in alignment for p in word]
    except RuntimeError:
        return None
    return phones or None


def recognise(wav: np.ndarray) -> list[Phone]:
    """Phones of 16 kHz ``wav`` decoded with the phone language model (no words needed)."""
    decoder = _recogniser()
    decoder.start_utt()
    decoder.process_raw(_pcm(wav), full_utt=True)
    decoder.end_utt()
    return [Phone(s.word, s.start_frame * FRAME_S, (s.end_frame + 1) * FRAME_S) for s in decoder.seg()]


def align_with_retries(wav: np.ndarray, words: list[str]) -> tuple[list[Phone], list[str]] | None:
    """``align`` with all words, then without the first, the last, and both; None if all fail."""
    tries = [words, words[1:], words[:-1], words[1:-1]]
    for attempt in tries:
        if attempt:
            phones = align(wav, attempt)
            if phones is not None:
                return phones, attempt
    return None


def frame_db(wav: np.ndarray) -> np.ndarray:
    """Level of each 10 ms frame of ``wav`` in dBFS (RMS over 25 ms): float64 [ceil(len / 160)]."""
    n = max(1, -(-len(wav) // SAMPLES_PER_PS_FRAME))
    padded = np.pad(np.asarray(wav, np.float64), (0, n * SAMPLES_PER_PS_FRAME + 240 - len(wav)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, 400)[::SAMPLES_PER_PS_FRAME][:n]
    return 10 * np.log10(np.maximum((frames**2).mean(axis=1), 1e-12))


def silence_quiet(phones: list[Phone], db: np.ndarray) -> list[Phone]:
    """``phones`` with those mostly in quiet frames (40 dB below the loudest) relabelled SIL."""
    quiet = db < db.max() - QUIET_BELOW_PEAK_DB
    out = []
    for p in phones:
        a = int(round(p.start_s / FRAME_S))
        span = quiet[a : max(int(round(p.end_s / FRAME_S)), a + 1)]
        is_quiet = len(span) > 0 and span.mean() >= QUIET_FRACTION
        out.append(Phone(SILENCE, p.start_s, p.end_s) if is_quiet and p.label != SILENCE else p)
    return out


def _window_phones(wav: np.ndarray, transcript, db: np.ndarray) -> tuple[list[Phone], str, list[str], str]:
    """(phones, method, aligned words, note) for one window of at most 30 s."""
    duration = len(wav) / SAMPLE_RATE
    if len(wav) < MIN_SAMPLES or db.max() < SILENCE_DBFS:
        return [Phone(SILENCE, 0.0, duration)], "silence", [], ""
    reason = "no words" if transcript is None else transcript.rejected and f"words rejected: {transcript.rejected}"
    if not reason:
        known = [w for w in transcript.words if in_dictionary(w)]
        oov = len(transcript.words) - len(known)
        if oov > MAX_OOV_FRACTION * len(transcript.words):
            reason = f"{oov} of {len(transcript.words)} words not in the pronunciation dictionary"
        else:
            found = align_with_retries(wav, known)
            if found is not None:
                phones, used = found
                return phones, "aligned" if used == known else "aligned-trimmed", used, ""
            reason = "alignment failed"
    return recognise(wav), "recognised", [], f"{reason}; phone recognition"


def speech_to_phones(wav: np.ndarray, use_words: bool = True, words: list[str] | None = None) -> PhoneTrack:
    """The timed phones of 16 kHz mono float ``wav`` (any length, any content); never raises on audio.

    use_words: decode Whisper tiny.en's words and align them (when installed); False: phone
    recognition only (faster; what non-English speech gets anyway).
    words: the known words of the whole clip (e.g. its script), aligned over it in one piece
        instead of Whisper's; punctuation and case do not matter.
    """
    wav = np.nan_to_num(np.asarray(wav, np.float32))
    duration = len(wav) / SAMPLE_RATE
    db = frame_db(wav)
    has_sound = db.max() >= SILENCE_DBFS and len(wav) >= MIN_SAMPLES
    step = WINDOW_SECONDS * SAMPLE_RATE
    notes = []
    if words is not None:
        step = max(1, len(wav))
        known = whisper_words.split_words(" ".join(words))
        transcripts: list = [whisper_words.Transcript(" ".join(known), known, 0.0, 0.0, "" if known else "no words")]
    else:
        transcripts = [None] * len(range(0, max(1, len(wav)), step))
        if use_words and has_sound:
            if whisper_words.available():
                try:
                    transcripts = whisper_words.transcribe(wav)
                except Exception as err:  # noqa: BLE001 - any decoding failure falls back to recognition
                    notes.append(f"Whisper words failed ({type(err).__name__}: {err})")
            else:
                notes.append("Whisper words not installed")
    starts = range(0, max(1, len(wav)), step)
    track = PhoneTrack([], duration, notes=notes)
    for start, transcript in zip(starts, transcripts):
        piece = wav[start : start + step]
        frame0 = start // SAMPLES_PER_PS_FRAME
        piece_db = db[frame0 : frame0 + max(1, -(-len(piece) // SAMPLES_PER_PS_FRAME))]
        try:
            phones, method, used, note = _window_phones(piece, transcript, piece_db)
        except Exception as err:  # noqa: BLE001 - a decoder failure must not stop preprocessing
            phones, method, used = [Phone(SILENCE, 0.0, len(piece) / SAMPLE_RATE)], "silence", []
            note = f"pocketsphinx failed ({type(err).__name__}: {err}); silence"
        offset = start / SAMPLE_RATE
        track.phones.extend(Phone(p.label, p.start_s + offset, p.end_s + offset) for p in phones)
        track.methods.append(method)
        track.words.extend(used)
        if note:
            end = offset + len(piece) / SAMPLE_RATE
            track.notes.append(f"{offset:.0f}-{end:.0f} s: {note}")
    track.phones = silence_quiet(track.phones, db)
    return track
