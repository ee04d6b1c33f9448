"""Decoding to 25 fps CFR, audio alignment, and the H.264 writer, on real and synthetic media."""

from __future__ import annotations

import numpy as np
import pytest

from emotag_cli.errors import EmotagError
from emotag_cli.media.audio import align_to_frames, decode_audio
from emotag_cli.media.probe import probe
from emotag_cli.media.video import decode_cfr

from _media import write_video
from conftest import real_video


@pytest.mark.parametrize("name", ["videoretalking_face_1.mp4", "eamm_M030_sad_3_001.mp4",
                                  "real3dportrait_May_5s.mp4"])
def test_cfr_frame_count_matches_duration(name):
    info = probe(real_video(name))
    n = sum(1 for _ in decode_cfr(info, 25.0, max_side=128))
    assert n == info.n_frames(25.0)
    assert abs(n - info.duration_s * 25) <= 1


def test_cfr_picks_nearest_source_frame(tmp_path):
    # A 10 fps clip whose frame k has brightness 20k: at 25 fps, output frame i (t = i/25 s)
    # must show source frame round(i * 10 / 25).
    frames = [np.full((32, 32, 3), 20 * k, np.uint8) for k in range(10)]
    info = probe(write_video(tmp_path / "ten.mp4", frames, fps=10))
    out = list(decode_cfr(info, 25.0))
    assert len(out) == 25
    got = [int(round(f.mean() / 20)) for f in out]
    want = [min(9, int(np.floor(i * 10 / 25 + 0.5))) for i in range(25)]
    # Ties (exactly between two source frames) may go either way.
    ties = {i for i in range(25) if abs(i * 10 / 25 % 1 - 0.5) < 1e-9}
    assert all(g == w for i, (g, w) in enumerate(zip(got, want)) if i not in ties)


def test_writer_round_trip_with_audio(tmp_path):
    rate = 16000
    t = np.arange(rate * 2) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    frames = [np.full((64, 64, 3), v, np.uint8) for v in np.linspace(0, 250, 50).astype(np.uint8)]
    path = write_video(tmp_path / "tone.mp4", frames, fps=25, audio=tone, audio_rate=rate)
    info = probe(path)
    assert info.has_audio and info.n_frames(25) == 50
    samples, start = decode_audio(path, rate)
    aligned = align_to_frames(samples, start - info.start_s, 50)
    assert aligned.shape == (50 * 640,)
    # The tone survives AAC: the spectrum peaks at 440 Hz.
    spectrum = np.abs(np.fft.rfft(aligned[rate // 2: rate // 2 + rate]))
    assert abs(np.argmax(spectrum) - 440) <= 2


def test_align_pads_and_trims():
    x = np.arange(1000, dtype=np.float32)
    late = align_to_frames(x, 0.01, n_frames=2, fps=25, rate=16000)      # audio starts 160 samples late
    assert late.shape == (1280,) and np.all(late[:160] == 0) and late[160] == 0 and late[161] == 1
    early = align_to_frames(x, -0.01, n_frames=1, fps=25, rate=16000)
    assert early[0] == 160 and early.shape == (640,)
    assert np.all(late[160 + 1000:] == 0)


def test_probe_errors(tmp_path):
    with pytest.raises(EmotagError, match="not found"):
        probe(tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(EmotagError, match="cannot read"):
        probe(junk)
    with pytest.raises(EmotagError, match="is not a file"):
        probe(tmp_path)


def test_decode_audio_of_silent_video_is_an_error(tmp_path):
    path = write_video(tmp_path / "mute.mp4", [np.zeros((32, 32, 3), np.uint8)] * 5)
    assert not probe(path).has_audio
    with pytest.raises(EmotagError, match="no audio track"):
        decode_audio(path)
