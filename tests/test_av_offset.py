"""The audio/video offset preprocess measures from the lips (preprocess/av_offset.py), on a real
clip whose audio is delayed by 400 ms and remuxed."""

from __future__ import annotations

import numpy as np
import pytest

from emotag_cli.config import PreprocessConfig
from emotag_cli.errors import EmotagError
from emotag_cli.media.audio import decode_audio
from emotag_cli.preprocess.av_offset import check_av_offset, loudness_track, measure, shift_audio
from emotag_cli.preprocess.pipeline import preprocess
from emotag_cli.progress import quiet

from _media import real_frames, write_video
from conftest import real_video

DELAY_MS = 400
FIRST, N = 200, 200                     # 8 s of the German clip, from 8 s on


@pytest.fixture(scope="module")
def delayed_scene(tmp_path_factory):
    """The German clip's seconds 8-16 with its audio 400 ms late, preprocessed with --av-offset auto."""
    src = real_video("mimictalk_German_20s.mp4")
    frames = real_frames(src, FIRST + N, size=192)[FIRST:]
    audio, _ = decode_audio(src)
    audio = audio[FIRST * 640:(FIRST + N) * 640]
    late = np.concatenate([np.zeros(DELAY_MS * 16, np.float32), audio])[:len(audio)]
    root = tmp_path_factory.mktemp("av")
    video = write_video(root / "german_late.mp4", frames, audio=late)
    reporter = quiet()
    config = PreprocessConfig(size=96, identity_top_k=4, av_offset="auto", audio_encoder="mel")
    scene = preprocess(video, root / "scene", config, reporter=reporter)
    return scene, late


def test_auto_measures_and_corrects_a_late_audio_track(delayed_scene):
    scene, _ = delayed_scene
    record = scene.manifest["features"]["audio"]["av_offset"]
    assert record["measured"]["reliable"]
    assert abs(record["measured"]["offset_ms"] - DELAY_MS) <= 80            # within 2 frames
    assert record["applied_ms"] == record["measured"]["offset_ms"]
    assert abs(record["after"]["offset_ms"]) <= 80
    warning = [w for w in scene.manifest["warnings"] if "against the lips" in w]
    assert warning and " ms late " in warning[0] and "earlier (--av-offset auto)" in warning[0]
    # The stored audio is the corrected one: it measures near zero again.
    assert abs(measure(scene.audio(), scene.landmarks, scene.fps).offset_ms) <= 80


def test_the_default_corrects_warn_only_warns_and_a_given_shift_is_applied(delayed_scene):
    assert PreprocessConfig().av_offset == "auto"           # an avatar must not learn the shift unasked
    scene, late = delayed_scene
    reporter = quiet()
    kept, record = check_av_offset(late, scene.landmarks, scene.fps, "warn", "clip.mp4", reporter)
    assert kept is late and record["applied_ms"] == 0.0
    assert len(reporter.warnings) == 1 and "--av-offset auto" in reporter.warnings[0]
    shifted, record = check_av_offset(late, scene.landmarks, scene.fps, str(DELAY_MS), "clip.mp4", quiet())
    assert record["applied_ms"] == DELAY_MS and abs(record["after"]["offset_ms"]) <= 80
    assert np.array_equal(shifted[:-DELAY_MS * 16], late[DELAY_MS * 16:])


def test_in_sync_audio_is_not_reported(delayed_scene):
    scene, late = delayed_scene
    reporter = quiet()
    on_time = shift_audio(late, DELAY_MS)
    for setting in ("warn", "auto"):
        kept, record = check_av_offset(on_time, scene.landmarks, scene.fps, setting, "clip.mp4", reporter)
        assert abs(record["measured"]["offset_ms"]) <= 80 and reporter.warnings == []
        assert kept is on_time and record["applied_ms"] == 0.0


def test_loudness_track_has_one_value_per_frame():
    t = np.arange(16000 * 2) / 16000
    tone = np.sin(2 * np.pi * 2000 * t) * (t > 1)                  # 2 kHz from 1 s on: in the band
    track = loudness_track(tone.astype(np.float32), 25.0)
    assert track.shape == (50,) and track[30:].min() > track[:20].max() + 40


@pytest.mark.parametrize("value", ["soon", "9000"])
def test_bad_av_offset_setting_is_refused(value):
    with pytest.raises(EmotagError, match="--av-offset must be warn, auto or milliseconds"):
        PreprocessConfig(av_offset=value).validate()


def test_a_clip_too_short_to_measure_is_left_alone(delayed_scene):
    scene, late = delayed_scene
    reporter = quiet()
    kept, record = check_av_offset(late[:40 * 640], scene.landmarks[:40], scene.fps, "auto", "clip.mp4", reporter)
    assert kept is not None and record["applied_ms"] == 0.0 and not record["measured"]["reliable"]
    assert "could not be measured reliably" in reporter.warnings[0]
