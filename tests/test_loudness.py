"""The `loudness` audio channel (preprocess/audio_features/loudness.py): 0 in silence and room
noise, 1 at the clip's loud parts, the same at any recording gain, appendable to phones."""

from __future__ import annotations

import numpy as np
import pytest

from emotag_cli.preprocess.audio_features import extract_audio_features
from emotag_cli.preprocess.audio_features.loudness import RANGE_DB, encode_loudness, levels_db

RATE = 16000


def bursts(gain: float = 0.5) -> np.ndarray:
    """2 s: 0.5 s of room noise (−60 dB), 0.5 s of a loud 220 Hz tone, 0.5 s of a tone 20 dB
    softer, 0.5 s of digital silence."""
    rng = np.random.default_rng(0)
    t = np.arange(RATE // 2) / RATE
    tone = np.sin(2 * np.pi * 220 * t)
    return gain * np.concatenate([1e-3 * rng.normal(size=RATE // 2), tone, 0.1 * tone, np.zeros(RATE // 2)])


def test_a_windowed_level_is_the_mean_power_in_db():
    level = levels_db(np.full(RATE, 0.1), 50)
    assert np.allclose(level[2:-2], 10 * np.log10(0.01), atol=1e-6)        # whole windows inside the signal
    assert level[0] < level[2]                                                 # the first one half outside


def test_silence_and_noise_read_0_speech_reads_up_to_1_at_any_gain():
    tokens, meta = encode_loudness(bursts())
    x = tokens[:, 0]
    assert tokens.shape == (100, 1) and tokens.dtype == np.float32 and meta["encoder"] == "loudness"
    noise, loud, soft, silence = x[3:22], x[28:47], x[53:72], x[78:]
    assert noise.max() == 0 and silence.max() == 0
    assert loud.min() == pytest.approx(1.0, abs=0.01)
    assert soft.mean() == pytest.approx(1 - 20 / RANGE_DB, abs=0.02)           # 20 dB softer
    quiet, _ = encode_loudness(bursts(gain=0.005))                              # the same clip 40 dB down
    assert np.allclose(quiet, tokens, atol=1e-4)


def test_phones_plus_loudness_appends_one_channel():
    pytest.importorskip("pocketsphinx")
    n = 50
    wav = bursts()
    alone, _ = extract_audio_features(wav, n, encoder="phones")
    both, meta = extract_audio_features(wav, n, encoder="phones+loudness")
    assert both.shape == alone.shape[:2] + (alone.shape[2] + 1,) and meta["encoder"] == "phones+loudness"
    assert np.array_equal(both[..., :-1], alone)
    assert both[..., -1].max() == 1 and both[..., -1].min() == 0
